"""Temperature scaling fitted on validation: ECE / Brier before and after, in metrics.json."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from verticalkit.core.evaluate.calibration import temperature_summary
from verticalkit.core.data.adapter import Task
from verticalkit.core.evaluate.evaluator import evaluate, metrics_json


def _overconfident_binary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated log-odds z (P(y=1) = sigmoid(z)) reported as sigmoid(4 z): over-confident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, 1 / (1 + np.exp(-4 * z))


def _overconfident_multiclass(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.0, (n, k))
    p_true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in p_true])
    z3 = 3 * z
    return y, np.exp(z3) / np.exp(z3).sum(1, keepdims=True)


def test_binary_temperature_lowers_ece_and_keeps_auroc():
    y_val, p_val = _overconfident_binary(2000, 0)
    y, p = _overconfident_binary(2000, 1)
    task = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])
    res = evaluate(task, y, p, val=(y_val, p_val), config=None)
    cal = res.calibration
    assert cal["temperature"] == pytest.approx(4.0, rel=0.15)  # undoes the x4 on the logits
    assert cal["ece_after_temperature"] < 0.5 * cal["ece_before_temperature"]
    assert cal["brier_after_temperature"] < cal["brier_before_temperature"]
    assert cal["ece_before_temperature"] == pytest.approx(res.metrics["ece"]["value"])
    # ranking unchanged (up to ties made by clipping p to [1e-7, 1 - 1e-7]): same AUROC
    from verticalkit.core.evaluate.calibration import apply_temperature, probabilities_to_logits

    scaled = apply_temperature(probabilities_to_logits(p), cal["temperature"])
    assert roc_auc_score(y, scaled) == pytest.approx(roc_auc_score(y, p), abs=1e-5)
    doc = metrics_json(res, vertical="v", dataset="d", model="m", split="test", n=len(y), seed=0,
                       train_seconds=None, versions={})
    assert doc["calibration"]["temperature_fitted_on"].startswith("validation")
    assert {"ece_after_temperature", "brier_after_temperature", "temperature"} <= set(doc["calibration"])


def test_multiclass_temperature_keeps_argmax_and_lowers_ece():
    y_val, p_val = _overconfident_multiclass(1500, 4, 2)
    y, p = _overconfident_multiclass(1500, 4, 3)
    task = Task(kind="multiclass", target="y", primary_metric="roc_auc", classes=list("abcd"))
    cal = evaluate(task, y, p, val=(y_val, p_val)).calibration
    assert cal["temperature"] == pytest.approx(3.0, rel=0.2)
    assert cal["ece_after_temperature"] < 0.5 * cal["ece_before_temperature"]
    assert cal["brier_after_temperature"] < cal["brier_before_temperature"]


def test_no_temperature_without_usable_validation():
    y, p = _overconfident_binary(200, 4)
    task = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])
    assert "temperature" not in evaluate(task, y, p).calibration
    assert temperature_summary("binary", y, p, np.zeros(10, int), np.full(10, 0.2)) == {}  # one class only
    assert temperature_summary("multiclass", y, np.eye(3)[y], y, np.eye(2)[y]) == {}  # k differs
