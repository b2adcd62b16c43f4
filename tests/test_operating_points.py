"""Operating points (core/evaluate/operating_points.py): validation-chosen thresholds, rates with CIs on test."""

import json

import numpy as np
import pytest

from verticalkit.core.evaluate.bootstrap import bootstrap_indices
from verticalkit.core.tools.cli import main
from verticalkit.core.config import EvalConfig
from verticalkit.core.data.adapter import Task
from verticalkit.core.evaluate.evaluator import evaluate, metrics_json
from verticalkit.core.evaluate.operating_points import RATES, operating_points, rate_at
from verticalkit.core.evaluate.thresholds import confusion_at

BINARY = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])


def _scores(n, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)  # imbalanced, as screening data are
    return y, np.clip(0.35 * y + rng.normal(0.3, 0.15, n), 0, 1)


def test_rate_batch_matches_the_rate_on_each_resample():
    y, p = _scores(150, 0)
    idx = bootstrap_indices(len(y), 7, seed=3, strata=y)
    W = np.stack([np.bincount(i, minlength=len(y)) for i in idx]).astype(float)
    for name in RATES:
        fn = rate_at(name, 0.42)
        expected = [fn(y[i], p[i]) for i in idx]
        assert np.allclose(fn.batch(y, p, None, W), expected, equal_nan=True), name


def test_rates_no_positive_flagged_are_nan_not_an_error():
    y, p = np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.2])
    assert np.isnan(rate_at("ppv", 0.9)(y, p)) and rate_at("specificity", 0.9)(y, p) == 1.0


def test_evaluate_reports_validation_chosen_points_with_cis():
    y, p = _scores(400, 1)
    yv, pv = _scores(300, 2)
    config = EvalConfig(n_bootstrap=200, target_sensitivity=0.8)
    result = evaluate(BINARY, y, p, config=config, val=(yv, pv))
    ops = result.operating_points
    assert ops["chosen_on"] == "validation" and set(ops) >= {"default_0.5", "youden", "target_sensitivity"}
    assert ops["target_sensitivity"]["target"] == 0.8
    assert ops["youden"]["threshold"] == pytest.approx(result.thresholds["youden"]["threshold"])
    for method in ("default_0.5", "youden", "target_sensitivity"):
        point = ops[method]
        rates = confusion_at(y, p, point["threshold"])  # the point value is the test rate at that threshold
        assert point["sensitivity"]["value"] == pytest.approx(rates["sensitivity"])
        assert point["ppv"]["value"] == pytest.approx(rates["ppv"])
        for name in RATES:
            lo, hi = point[name]["ci95"]
            assert lo <= point[name]["value"] <= hi and hi - lo < 0.5, (method, name)
    # accuracy at 0.5 is the metrics table's accuracy, with the same (paired, stratified) CI
    assert ops["default_0.5"]["accuracy"]["value"] == pytest.approx(result.metrics["accuracy"]["value"])
    assert ops["default_0.5"]["accuracy"]["ci95"] == pytest.approx(result.metrics["accuracy"]["ci95"])
    doc = metrics_json(result, vertical="v", dataset="d", model="m", split="test", n=len(y), seed=42,
                       train_seconds=None, versions={})
    assert json.loads(json.dumps(doc, allow_nan=False))["operating_points"]["youden"]["specificity"]["value"] > 0.5


def test_one_class_validation_falls_back_to_test_and_says_so():
    y, p = _scores(200, 4)
    result = evaluate(BINARY, y, p, config=EvalConfig(n_bootstrap=30), val=(np.zeros(50), np.linspace(0, 1, 50)))
    assert result.operating_points["chosen_on"].startswith("test")


def test_not_for_non_binary_tasks():
    rng = np.random.default_rng(0)
    task = Task(kind="regression", target="y", primary_metric="rmse")
    assert evaluate(task, rng.normal(size=50), rng.normal(size=50), config=EvalConfig(n_bootstrap=10)
                    ).operating_points == {}


def test_toy_run_metrics_json_and_console(toy, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=60", "--set",
                 "eval.target_sensitivity=0.95"]) == 0
    console = capsys.readouterr().out
    ops = json.loads((out / "metrics.json").read_text())["operating_points"]
    assert ops["chosen_on"] == "validation" and ops["target_sensitivity"]["target"] == 0.95
    assert ops["youden"]["sensitivity"]["ci95"][0] <= ops["youden"]["sensitivity"]["value"]
    assert "operating points (thresholds chosen on validation)" in console
    assert "at youden (thr" in console and "at target_sensitivity 0.95" in console and "ppv" in console
    assert "<h2>Operating points</h2>" in (out / "report.html").read_text()
    assert operating_points(np.array([0, 1]), np.array([0.2, 0.8]), {}, "validation") == {"chosen_on": "validation"}
