"""Fraud metrics: alert budget, card precision@k, expected cost, PSI, and their use in the evaluator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.config import EvalConfig
from verticalkit.core.data.adapter import Task
from verticalkit.core.evaluate.bootstrap import bootstrap_indices
from verticalkit.core.evaluate.evaluator import evaluate
from verticalkit.verticals.fraud.metrics import (METRICS, card_precision_at_k, min_expected_cost,
                                                 precision_at_budget, psi, psi_ci, recall_at_budget)


def test_budget_metrics_by_hand():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    p = np.array([.9, .8, .7, .1, .1, .1, .1, .1, .1, .05])
    assert precision_at_budget(y, p, budget=3) == pytest.approx(2 / 3)
    assert recall_at_budget(y, p, budget=3) == pytest.approx(2 / 3)
    assert precision_at_budget(y, p, budget=0.2) == pytest.approx(1 / 2)
    assert np.isnan(recall_at_budget(np.zeros(10), p))


def test_card_precision_at_k_by_hand():
    meta = pd.DataFrame({"customer_id": [1, 1, 2, 3, 4, 1, 2],
                         "day": [0, 0, 0, 0, 0, 1, 1]})
    y = np.array([0, 1, 0, 1, 0, 0, 0])
    p = np.array([.9, .1, .8, .7, .1, .6, .5])
    # day 0: cards by max score 1 (.9, fraud via its 2nd tx), 2 (.8), 3 (.7, fraud) → top-2 = {1, 2}: 1 fraud of 2
    # day 1: cards 1, 2 → no fraud
    assert card_precision_at_k(y, p, meta, k=2) == pytest.approx((1 / 2 + 0) / 2)
    assert np.isnan(card_precision_at_k(y, p, None))


def test_min_expected_cost():
    y = np.array([1, 1, 0, 0, 0, 0])
    p = np.array([.9, .2, .3, .1, .1, .1])
    # flag >= .2: FP 1 (the .3), FN 0 → cost 1/6; flagging nothing costs 10/6
    assert min_expected_cost(y, p) == pytest.approx(1 / 6)


def test_psi():
    rng = np.random.default_rng(0)
    a = rng.normal(size=20000)
    assert psi(a, rng.normal(size=20000)) < 0.01
    assert psi(a, rng.normal(1.0, 1, size=20000)) > 0.25


def test_psi_ci_brackets_the_estimate_and_narrows_with_data():
    rng = np.random.default_rng(0)
    small = psi_ci(rng.normal(size=500), rng.normal(0.3, 1, size=500))
    big_e, big_a = rng.normal(size=20000), rng.normal(0.3, 1, size=20000)
    lo, hi = psi_ci(big_e, big_a)
    assert lo < psi(big_e, big_a) < hi
    assert 0 < hi - lo < small[1] - small[0]


def test_metrics_in_the_core_evaluator():
    rng = np.random.default_rng(1)
    n = 3000
    y = (rng.random(n) < 0.05).astype(int)
    p = np.clip(0.05 + 0.5 * y * rng.random(n) + 0.1 * rng.random(n), 0, 1)
    meta = pd.DataFrame({"customer_id": rng.integers(0, 500, n), "day": rng.integers(0, 7, n)})
    task = Task(kind="binary", target="y", primary_metric="auprc", classes=["legit", "fraud"])
    r = evaluate(task, y, p, meta=meta, extra_metrics=METRICS, config=EvalConfig(n_bootstrap=50), seed=0)
    for name in ("auprc", "roc_auc", "ks", "gini", "brier", "ece", *METRICS):
        assert name in r.metrics, name
        lo, hi = r.metrics[name]["ci95"]
        assert lo <= r.metrics[name]["value"] <= hi, name


@pytest.mark.parametrize("decimals", [None, 1])  # distinct scores, and many ties
def test_batched_budget_and_cost_metrics_equal_the_per_replicate_ones(decimals):
    rng = np.random.default_rng(0)
    n = 2000
    y = (rng.random(n) < 0.05).astype(int)
    p = rng.random(n) + 0.3 * y
    p = p if decimals is None else np.round(p, decimals)
    idx = bootstrap_indices(n, 30, seed=1, strata=y)
    W = np.stack([np.bincount(i, minlength=n) for i in idx]).astype(float)
    for fn in (precision_at_budget, recall_at_budget, min_expected_cost):
        looped = np.array([fn(y[i], p[i]) for i in idx])
        np.testing.assert_allclose(fn.batch(y, p, None, W), looped, atol=1e-9, err_msg=fn.__name__)
