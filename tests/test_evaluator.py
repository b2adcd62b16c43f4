"""Bootstrap, thresholds, calibration and evaluate() end to end for every task kind."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from verticalkit.core.evaluate.bootstrap import bootstrap_ci, bootstrap_indices
from verticalkit.core.evaluate.calibration import (apply_temperature, brier_score, expected_calibration_error,
                                          fit_temperature, probabilities_to_logits, reliability_bins,
                                          temperature_scale)
from verticalkit.core.config import EvalConfig
from verticalkit.core.data.adapter import Task
from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.evaluate.evaluator import evaluate, metrics_json
from verticalkit.core.evaluate.metrics import core_metrics
from verticalkit.core.evaluate.thresholds import (budget_threshold, confusion_at, cost_threshold, expected_cost,
                                         sensitivity_threshold, youden_threshold)

BIN = Task(kind="binary", target="y", primary_metric="auprc", classes=["no", "yes"])


def _binary(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    p = np.clip(0.1 + 0.5 * y + 0.2 * rng.normal(size=n), 0, 1)
    return y, p


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_seeded_and_ci_contains_estimate():
    y, p = _binary(500)
    fns = core_metrics(BIN)
    a = bootstrap_ci(fns, y, p, n=200, seed=3, strata=y)
    b = bootstrap_ci(fns, y, p, n=200, seed=3, strata=y)
    c = bootstrap_ci(fns, y, p, n=200, seed=4, strata=y)
    assert a == b
    assert a["roc_auc"]["ci95"] != c["roc_auc"]["ci95"]
    for name in ("roc_auc", "auprc", "brier"):
        lo, hi = a[name]["ci95"]
        assert lo < a[name]["value"] < hi, name
    assert a["auprc"]["value"] == pytest.approx(average_precision_score(y, p))


def test_bootstrap_is_paired_across_metrics():
    """A looped metric (sees rows) and a batched one (sees weights) get the same resamples."""
    y, p = _binary(300)
    meta = pd.DataFrame({"row": np.arange(len(y))})
    seen_rows, seen_weights = [], []

    def looped(y_, s_, m_):
        seen_rows.append(m_["row"].to_numpy())
        return float(np.mean(s_))

    def batched(y_, s_, m_=None):
        return float(np.mean(s_))

    batched.batch = lambda y_, s_, m_, W: (seen_weights.append(W.copy()), W @ s_ / W.sum(1))[1]
    out = bootstrap_ci({"a": looped, "b": batched}, y, p, meta, n=50, seed=11, strata=y)
    W = np.concatenate(seen_weights)
    counts = np.stack([np.bincount(r, minlength=len(y)) for r in seen_rows[1:]])  # [0] is the point estimate
    np.testing.assert_array_equal(counts, W)
    np.testing.assert_array_equal(counts, [np.bincount(i, minlength=len(y))
                                           for i in bootstrap_indices(len(y), 50, 11, y)])
    assert out["a"]["ci95"] == pytest.approx(out["b"]["ci95"])  # same metric, same resamples: same CI


def test_bootstrap_stratified_keeps_class_counts_and_ignores_nan():
    y = np.array([0] * 40 + [1] * 3)
    idx = bootstrap_indices(len(y), 20, 0, strata=y)
    assert np.all(y[idx].sum(1) == 3)
    p = np.random.default_rng(0).random(len(y))
    out = bootstrap_ci({"auc": core_metrics(BIN)["roc_auc"]}, y, p, n=100, seed=0)  # unstratified: some NaN
    assert out["auc"]["n_boot_valid"] < 100 and all(np.isfinite(out["auc"]["ci95"]))


def test_bootstrap_zero_replicates():
    y, p = _binary(100)
    out = bootstrap_ci(core_metrics(BIN), y, p, n=0)
    assert out["roc_auc"]["ci95"] == [None, None] and out["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, p))


# ----------------------------------------------------------------------------- thresholds


def test_cost_threshold_is_optimal_on_a_brute_force_grid():
    for seed in range(3):
        y, p = _binary(800, seed=seed)
        p = np.round(p, 2)  # ties
        t = cost_threshold(y, p, cost_fp=1, cost_fn=5)
        grid = np.concatenate([np.unique(p), [np.inf]])
        best = min(expected_cost(y, p, g, 1, 5) for g in grid)
        assert expected_cost(y, p, t, 1, 5) == pytest.approx(best)


def test_target_sensitivity_youden_budget():
    y, p = _binary(1000, seed=5)
    t90 = sensitivity_threshold(y, p, 0.9)
    assert np.mean(p[y == 1] >= t90) >= 0.9
    assert np.mean(p[y == 1] > t90) < 0.9  # the highest such threshold
    ty = youden_threshold(y, p)
    j = lambda t: confusion_at(y, p, t)["sensitivity"] + confusion_at(y, p, t)["specificity"]  # noqa: E731
    assert j(ty) == pytest.approx(max(j(g) for g in np.unique(p)))
    assert confusion_at(y, p, budget_threshold(p, 0.05))["flagged"] == 50
    assert confusion_at(y, p, budget_threshold(p, 20))["flagged"] == 20
    row = confusion_at(y, p, 0.5)
    assert row["precision"] == pytest.approx(row["tp"] / (row["tp"] + row["fp"]))
    assert row["npv"] == pytest.approx(row["tn"] / (row["tn"] + row["fn"]))


# ----------------------------------------------------------------------------- calibration


def test_ece_calibrated_vs_miscalibrated_and_temperature():
    rng = np.random.default_rng(2)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, p ** 3) > 0.1
    bins = reliability_bins(y, p, 10)
    assert sum(bins["count"]) == len(y) and len(bins["observed"]) == 10
    logits = probabilities_to_logits(p) * 3  # over-confident by a factor 3
    t = fit_temperature(logits, y)
    assert t == pytest.approx(3, rel=0.1)
    assert expected_calibration_error(y, apply_temperature(logits, t)) < 0.02
    over = apply_temperature(logits, 1.0)
    fixed, t2 = temperature_scale(over[:10000], y[:10000], over[10000:])
    assert t2 == pytest.approx(3, rel=0.15)
    assert brier_score(y[10000:], fixed) < brier_score(y[10000:], over[10000:])
    assert expected_calibration_error(y[10000:], fixed) < 0.03


# ----------------------------------------------------------------------------- evaluate, every task kind


def test_evaluate_binary_thresholds_on_validation_and_strict_json():
    y, p = _binary()
    vy, vp = _binary(seed=9)
    meta = pd.DataFrame({"sex": np.where(np.arange(len(y)) % 2, "F", "M")})
    res = evaluate(BIN, y, p, meta=meta, config=EvalConfig(n_bootstrap=50), val=(vy, vp))
    assert res.threshold_source == "validation"
    assert res.thresholds["cost"]["threshold"] == pytest.approx(cost_threshold(vy, vp, 1, 5))
    assert res.curves["confusion"]["threshold"] == res.thresholds["cost"]["threshold"]
    assert {r["group"] for r in res.subgroups["sex"]} == {"F", "M"}
    f_rows = np.flatnonzero(meta["sex"] == "F")
    f = next(r for r in res.subgroups["sex"] if r["group"] == "F")
    assert f["n"] == len(f_rows) and f["auprc"] == pytest.approx(average_precision_score(y[f_rows], p[f_rows]))
    doc = metrics_json(res, vertical="v", dataset="d", model="m", split="test", n=len(y), seed=1,
                       train_seconds=0.1, versions={"verticalkit": "0"})
    json.dumps(doc, allow_nan=False)
    assert {"vertical", "dataset", "model", "split", "n", "seed", "metrics", "primary", "train_seconds",
            "versions"} <= set(doc)
    assert doc["metrics"]["auprc"]["value"] == pytest.approx(average_precision_score(y, p))
    assert set(doc["metrics"]["auprc"]) == {"value", "ci95"}
    no_val = evaluate(BIN, y, p, config=EvalConfig(n_bootstrap=0))
    assert no_val.threshold_source.startswith("test")


def test_evaluate_extra_metric_and_nan_to_null():
    y, p = _binary(300)
    meta = pd.DataFrame({"w": np.ones(len(y))})
    extra = {"mean_w_score": lambda y_, s_, m_: float(np.mean(s_ * m_["w"].to_numpy())),
             "always_nan": lambda y_, s_, m_: float("nan")}
    res = evaluate(BIN, y, p, meta=meta, extra_metrics=extra, config=EvalConfig(n_bootstrap=30))
    assert res.metrics["mean_w_score"]["value"] == pytest.approx(np.mean(p))
    doc = metrics_json(res, vertical="v", dataset="d", model="m", split="test", n=len(y), seed=1,
                       train_seconds=None, versions={})
    assert doc["metrics"]["always_nan"] == {"value": None, "ci95": [None, None]}
    json.dumps(doc, allow_nan=False)


def test_evaluate_multiclass_multilabel_ordinal_regression():
    rng = np.random.default_rng(1)
    cfg = EvalConfig(n_bootstrap=40)
    y = rng.integers(0, 3, 300)
    P = rng.dirichlet(np.ones(3), 300)
    P[np.arange(300), y] += 1
    P /= P.sum(1, keepdims=True)
    mc = evaluate(Task("multiclass", "c", "roc_auc", ["a", "b", "c"]), y, P, config=cfg)
    assert mc.metrics["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, P, multi_class="ovr"))
    assert np.sum(mc.curves["confusion"]["matrix"]) == 300 and set(mc.curves["roc"]) == {"a", "b", "c"}
    assert 0 <= mc.calibration["ece"] <= 1
    Y = (rng.random((200, 4)) < 0.3).astype(int)
    ml = evaluate(Task("multilabel", "l", "roc_auc", list("pqrs")), Y, np.clip(0.4 * Y + 0.6 * rng.random((200, 4)),
                                                                              0, 1), config=cfg)
    assert ml.metrics["roc_auc"]["value"] > 0.6 and ml.metrics["roc_auc"]["ci95"][0] is not None
    ys = rng.integers(0, 5, 250)
    od = evaluate(Task("ordinal", "s", "qwk", score_range=(0, 4)), ys, ys + rng.normal(0, 0.6, 250), config=cfg)
    lo, hi = od.metrics["qwk"]["ci95"]
    assert lo <= od.metrics["qwk"]["value"] <= hi and od.metrics["qwk"]["value"] > 0.7
    yr = rng.normal(size=250)
    rg = evaluate(Task("regression", "v", "rmse"), yr, yr + rng.normal(0, 0.3, 250), config=cfg)
    assert rg.metrics["rmse"]["value"] == pytest.approx(0.3, rel=0.2)
    for res in (mc, ml, od, rg):
        doc = metrics_json(res, vertical="v", dataset="d", model="m", split="test", n=1, seed=0, train_seconds=None,
                           versions={})
        json.dumps(doc, allow_nan=False)


def test_evaluate_rejects_bad_input():
    y, p = _binary(50)
    with pytest.raises(DataError, match="y_true has 50 rows but scores has 49"):
        evaluate(BIN, y, p[:-1])
    with pytest.raises(DataError, match="shape"):
        evaluate(BIN, y, np.stack([1 - p, p], 1))
    with pytest.raises(DataError, match="NaN"):
        evaluate(BIN, y, np.where(y == 1, np.nan, p))
    with pytest.raises(ConfigError, match="primary metric 'qwk'"):
        evaluate(Task("binary", "y", "qwk", ["a", "b"]), y, p)
