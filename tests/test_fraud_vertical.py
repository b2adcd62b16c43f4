"""Fraud vertical: registration, reference results, examples, end-to-end runs (real data: slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import real_data

from verticalkit.core.registry import get_vertical, register, unregister
from verticalkit.core.train.reproduce import load_reference_results
from verticalkit.verticals.fraud import VERTICAL

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fraud():
    try:
        yield get_vertical("fraud")
    except Exception:  # noqa: BLE001 - entry point not installed yet
        register(VERTICAL)
        yield VERTICAL
        unregister("fraud")


def test_reference_results_are_complete():
    entries = load_reference_results(VERTICAL)
    assert entries, "reference_results.yaml is empty"
    for e in entries:
        assert e["command"].startswith("verticalkit reproduce fraud")
        assert e["measured_by"].startswith(("VERTICALKIT_DATA=../shared/data python benchmarks/fraud_quality.py",
                                            "VERTICALKIT_DATA=../shared/data OMP_NUM_THREADS=1 python "
                                            "benchmarks/fraud_temporal_selection.py"))
        lo, hi = e["ci95"]
        assert lo <= e.get("pooled_value", e["value"]) <= hi, e
        if e.get("folds"):
            assert e["folds"]["param"] in VERTICAL.datasets[e["dataset"]].param_names()


def test_ulb_temporal_goal_entry_comes_from_the_fixed_search_space():
    """The ULB temporal goal figure is the pick of benchmarks/fraud_temporal_selection.py (search
    space fixed in code, CV inside the training period, test read once), as its results table says."""
    import json

    entries = [e for e in load_reference_results(VERTICAL)
               if e["dataset"] == "ulb-creditcard" and e["protocol"] == "temporal-80-20" and "selection" in e]
    assert {e["metric"] for e in entries} == {"auprc", "roc_auc"} and len({e["model"] for e in entries}) == 1
    table = json.loads((ROOT / "benchmarks" / "results" / "fraud_temporal_selection.json").read_text())["rows"]
    picked = [r for r in table if r["picked"] == "yes"]
    assert len(picked) == 1 and [r for r in table if r["test_auprc"] != ""] == picked  # only the pick saw the test
    assert max(r["cv_auprc"] for r in table) == picked[0]["cv_auprc"]
    for e in entries:
        sel = e["selection"]
        assert "fixed" in sel["method"] and "benchmarks/fraud_temporal_selection.py" in e["measured_by"]
        assert sel["picked"] == picked[0]["candidate"] and e["model"] == picked[0]["model"]
        assert sel["cv_auprc"] == picked[0]["cv_auprc"] and sel["candidates"] == len(table)
        if e["metric"] == "auprc":
            assert abs(e["value"] - picked[0]["test_auprc"]) < 1e-9


def test_dataset_cards_exist_for_every_adapter():
    import yaml

    for adapter in VERTICAL.datasets.values():
        if adapter.card:
            card = yaml.safe_load((ROOT / "datasets" / adapter.card).read_text())
            assert card["id"] == adapter.id and card["vertical"] == "fraud"


def test_credit_risk_example_runs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "credit_risk_scorecard.py")], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(base points)" in out.stdout and "test ROC-AUC" in out.stdout
    assert out.stdout.count(" points, P(bad) = ") == 3 and "  1. " in out.stdout


def test_train_pipeline_on_german(fraud, tmp_path):
    from verticalkit.core.train.run import build_config, train

    cfg = build_config("fraud", "german-credit", "scorecard", str(tmp_path / "run"), sets=["eval.n_bootstrap=50"])
    run = train(cfg)
    m = json.loads((run / "metrics.json").read_text())
    assert m["primary"] == "roc_auc" and m["metrics"]["roc_auc"]["value"] > 0.7
    assert "expected_cost" in m["metrics"] and "ks" in m["metrics"]
    report = (run / "report.html").read_text()
    assert "Scorecard points table" in report and "PSI" in report


@pytest.mark.slow
def test_fraud_detection_example_simulated(fraud, tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "fraud_detection.py"), "--simulated", "--out",
                          str(tmp_path / "demo")], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "cp_at_100" in out.stdout and (tmp_path / "demo" / "report.html").is_file()


@pytest.mark.slow
def test_ulb_gbdt_reproduces_reference(fraud, tmp_path):
    from verticalkit.core.train.reproduce import measure_entry

    real_data("ulb-creditcard")
    entry = next(e for e in load_reference_results(VERTICAL)
                 if e["dataset"] == "ulb-creditcard" and e["model"] == "gbdt" and e["metric"] == "auprc"
                 and e["protocol"].startswith("stratified"))
    m = measure_entry("fraud", entry, tmp_path)
    assert abs(m["mean"] - entry["value"]) <= entry["tolerance"]


def test_report_psi_scores_a_sample_of_a_large_training_split(monkeypatch):
    import numpy as np

    import verticalkit.verticals.fraud as fraud_module
    from verticalkit.core.heads.predictor import Predictor
    from verticalkit.verticals.fraud.models import LogRegHead

    splits = fraud_module.tiny_data(0)
    head = LogRegHead().fit(splits.train.X, splits.train.y)
    predictor = Predictor(head, vertical="fraud", model="logreg", dataset=splits.dataset, task=splits.task)
    scored = []
    original = predictor.predict_score
    monkeypatch.setattr(predictor, "predict_score", lambda X: scored.append(len(X)) or original(X))
    test_scores = original(splits.test.X)
    monkeypatch.setattr(fraud_module, "PSI_TRAIN_ROWS", 200)
    text = dict(fraud_module.report_sections(predictor, splits, test_scores, Path(".")))["Score stability (PSI)"]
    assert scored == [200] and f"a random 200 of the {len(splits.train):,} training scores" in text
    monkeypatch.setattr(fraud_module, "PSI_TRAIN_ROWS", 10_000)
    text = dict(fraud_module.report_sections(predictor, splits, test_scores, Path(".")))["Score stability (PSI)"]
    assert scored[-1] == len(splits.train) and "against the training scores" in text
    assert np.isfinite(float(text.split("<b>")[1].split("</b>")[0]))
