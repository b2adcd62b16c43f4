import json
import re

import numpy as np
import pytest
import yaml
from sklearn.metrics import average_precision_score, cohen_kappa_score, roc_auc_score

from verticalkit.core.bootstrap import bootstrap_ci
from verticalkit.core.calibration import apply_temperature, expected_calibration_error, fit_temperature
from verticalkit.core.config import EvalConfig
from verticalkit.core.data import Task
from verticalkit.core.errors import ConfigError
from verticalkit.core.evaluator import evaluate, metrics_json
from verticalkit.core.metrics import core_metrics, metric_fn
from verticalkit.core.model_card import write_model_card
from verticalkit.core.report import write_report
from verticalkit.core.thresholds import cost_threshold, expected_cost, sensitivity_threshold

BIN = Task(kind="binary", target="y", primary_metric="auprc", classes=["no", "yes"])


def _binary(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    p = np.clip(0.1 + 0.5 * y + 0.2 * rng.normal(size=n), 0, 1)
    return y, p


def test_binary_metrics_match_sklearn():
    y, p = _binary()
    m = core_metrics(BIN)
    assert m["roc_auc"](y, p) == pytest.approx(roc_auc_score(y, p))
    assert m["auprc"](y, p) == pytest.approx(average_precision_score(y, p))
    assert np.isnan(m["roc_auc"](np.zeros(5), np.linspace(0, 1, 5)))  # one class: NaN, no crash


def test_multiclass_and_ordinal():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    P = rng.dirichlet(np.ones(3), 300)
    P[np.arange(300), y] += 1
    P /= P.sum(1, keepdims=True)
    mc = Task(kind="multiclass", target="c", primary_metric="roc_auc", classes=["a", "b", "c"])
    m = core_metrics(mc)
    assert m["roc_auc"](y, P) == pytest.approx(roc_auc_score(y, P, multi_class="ovr"))
    assert m["accuracy"](y, P) == pytest.approx(np.mean(P.argmax(1) == y))
    ordinal = Task(kind="ordinal", target="s", primary_metric="qwk", score_range=(0, 4))
    ys = rng.integers(0, 5, 200)
    pred = ys + rng.normal(0, 0.7, 200)
    want = cohen_kappa_score(ys, np.clip(np.rint(pred), 0, 4).astype(int), weights="quadratic", labels=range(5))
    assert core_metrics(ordinal)["qwk"](ys, pred) == pytest.approx(want)


def test_metric_fn_direction_and_unknown():
    y, p = _binary()
    assert metric_fn(BIN, "brier")(y, p) < 0 < metric_fn(BIN, "auprc")(y, p)
    with pytest.raises(ConfigError, match="unknown metric 'nope'.*auprc"):
        metric_fn(BIN, "nope")


def test_bootstrap_seeded_and_paired():
    y, p = _binary(500)
    fn = core_metrics(BIN)["roc_auc"]
    a = bootstrap_ci({"x": fn, "x2": fn}, y, p, n_boot=200, seed=3, strata=y)
    b = bootstrap_ci({"x": fn}, y, p, n_boot=200, seed=3, strata=y)
    c = bootstrap_ci({"x": fn}, y, p, n_boot=200, seed=4, strata=y)
    assert a["x"]["ci95"] == a["x2"]["ci95"] == b["x"]["ci95"] != c["x"]["ci95"]
    lo, hi = a["x"]["ci95"]
    assert lo < a["x"]["value"] < hi


def test_cost_threshold_is_optimal_on_a_grid():
    y, p = _binary(800, seed=5)
    t = cost_threshold(y, p, cost_fp=1, cost_fn=5)
    best = min(expected_cost(y, p, g, 1, 5) for g in np.unique(p))
    assert expected_cost(y, p, t, 1, 5) == pytest.approx(best)
    t90 = sensitivity_threshold(y, p, 0.9)
    assert np.mean(p[y == 1] >= t90) >= 0.9


def test_ece_and_temperature():
    rng = np.random.default_rng(2)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, p ** 3) > 0.1
    logits = np.log(p / (1 - p)) * 3  # over-confident by a factor 3
    t = fit_temperature(logits, y)
    assert t == pytest.approx(3, rel=0.1)
    assert expected_calibration_error(y, apply_temperature(logits, t)) < 0.02


def test_evaluate_writes_strict_json_report_and_card(tmp_path):
    y, p = _binary()
    vy, vp = _binary(seed=9)
    res = evaluate(BIN, y, p, config=EvalConfig(n_bootstrap=50), val=(vy, vp))
    assert res.threshold_source == "validation" and "cost" in res.thresholds
    doc = metrics_json(res, vertical="v", dataset="d", model="m", split="test", n=len(y), seed=1,
                       train_seconds=0.1, versions={"verticalkit": "0"})
    text = json.dumps(doc, allow_nan=False)
    assert doc["primary"] == "auprc" and doc["metrics"]["auprc"]["value"] == pytest.approx(average_precision_score(y, p))
    report = write_report(tmp_path / "report.html", res, title="t <x>", task=BIN, info={"dataset": "d"})
    html = report.read_text()
    assert f"{doc['metrics']['auprc']['value']:.4f}" in html and "data:image/png;base64," in html
    assert not re.search(r"(src|href)=[\"']https?://", html) and "t &lt;x&gt;" in html
    card = write_model_card(tmp_path / "model_card.md", vertical="v", dataset="d", model="m", task=BIN,
                            metrics_json=json.loads(text), config={}, info={}, clinical=True)
    front = yaml.safe_load(card.read_text().split("---")[1])
    assert front["model-index"][0]["results"][0]["dataset"]["split"] == "test"
    assert "Not for clinical use" in card.read_text()
