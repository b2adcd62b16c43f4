"""Fraud and credit-risk metrics beyond the core binary set.

The core evaluator already reports ROC-AUC, AUPRC, Gini, KS, Brier and ECE with
bootstrap CIs (core/evaluate/metrics.py); the vertical adds alert-budget precision/recall,
card precision@k per day (handbook) and expected cost at the cost-optimal threshold; PSI
is the core's (``verticalkit.core.evaluate.drift``, re-exported here). Each vertical metric has the signature ``fn(y_true, scores, meta) -> float``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from verticalkit.core.evaluate.drift import psi, psi_ci  # noqa: F401  (re-exported: one PSI, in core)
from verticalkit.core.evaluate.metrics import weighted_curve
from verticalkit.core.evaluate.thresholds import budget_threshold, confusion_at, cost_threshold, expected_cost

ALERT_BUDGET = 0.01  # fraction of transactions an analyst team reviews
COST_FP, COST_FN = 1.0, 5.0  # German credit cost matrix: bad predicted good costs 5


def precision_at_budget(y_true, scores, meta=None, budget: float = ALERT_BUDGET) -> float:
    """Precision among the top ``budget`` (fraction or count) scores."""
    y, p = np.asarray(y_true), np.asarray(scores, dtype=float)
    if len(y) == 0:
        return float("nan")
    c = confusion_at(y, p, budget_threshold(p, budget))
    return c["precision"]


def recall_at_budget(y_true, scores, meta=None, budget: float = ALERT_BUDGET) -> float:
    """Share of all frauds caught in the top ``budget`` scores."""
    y, p = np.asarray(y_true), np.asarray(scores, dtype=float)
    if len(y) == 0 or y.sum() == 0:
        return float("nan")
    return confusion_at(y, p, budget_threshold(p, budget))["sensitivity"]


def min_expected_cost(y_true, scores, meta=None, cost_fp: float = COST_FP, cost_fn: float = COST_FN) -> float:
    """Mean cost per case at the cost-optimal threshold on these cases (cost matrix FP 1 : FN 5)."""
    y, p = np.asarray(y_true), np.asarray(scores, dtype=float)
    if len(y) == 0:
        return float("nan")
    return expected_cost(y, p, cost_threshold(y, p, cost_fp, cost_fn), cost_fp, cost_fn)


def _budget_batch(y_true, scores, weights, budget: float = ALERT_BUDGET) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates (row weights) of (TP, flagged) at each replicate's budget threshold: the
    first distinct score whose cumulative count reaches k, every row tied with it flagged."""
    tp, fp = weighted_curve(y_true, scores, weights)
    flagged = tp + fp
    n = weights.sum(axis=1)
    k = np.clip(np.round(budget * n) if budget < 1 else np.full(len(n), float(budget)), 1, n)
    g = np.argmax(flagged >= k[:, None] - 1e-9, axis=1)
    rows = np.arange(len(g))
    return tp[rows, g], flagged[rows, g]


def _precision_at_budget_batch(y_true, scores, meta, weights) -> np.ndarray:
    tp, flagged = _budget_batch(np.asarray(y_true), np.asarray(scores, dtype=float), weights)
    return tp / flagged


def _recall_at_budget_batch(y_true, scores, meta, weights) -> np.ndarray:
    y = np.asarray(y_true)
    tp, _ = _budget_batch(y, np.asarray(scores, dtype=float), weights)
    positives = weights @ (y == 1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(positives > 0, tp / positives, np.nan)


def _min_expected_cost_batch(y_true, scores, meta, weights) -> np.ndarray:
    """Replicates of :func:`min_expected_cost`: the cheapest cut over every distinct score (or none)."""
    tp, fp = weighted_curve(np.asarray(y_true), np.asarray(scores, dtype=float), weights)
    positives = tp[:, -1]
    cost = np.minimum((COST_FP * fp + COST_FN * (positives[:, None] - tp)).min(axis=1), COST_FN * positives)
    return cost / weights.sum(axis=1)


precision_at_budget.batch = _precision_at_budget_batch  # type: ignore[attr-defined]
recall_at_budget.batch = _recall_at_budget_batch  # type: ignore[attr-defined]
min_expected_cost.batch = _min_expected_cost_batch  # type: ignore[attr-defined]


def card_precision_at_k(y_true, scores, meta, k: int = 100) -> float:
    """Handbook card precision@k: per day, the k cards (customers) with the highest
    transaction score; the share of them with a fraud that day; mean over days.
    Needs ``meta`` columns ``customer_id`` and ``day``; NaN without them."""
    if meta is None or not {"customer_id", "day"} <= set(meta.columns):
        return float("nan")
    cards = _card_table(y_true, scores, meta)
    top = cards.groupby("d", sort=False).head(k)
    return float(top.groupby("d")["y"].sum().div(k).mean())


def _card_table(y_true, scores, meta) -> pd.DataFrame:
    df = pd.DataFrame({"c": meta["customer_id"].to_numpy(), "d": meta["day"].to_numpy(),
                       "y": np.asarray(y_true), "p": np.asarray(scores, dtype=float)})
    cards = df.groupby(["d", "c"], sort=False).agg(p=("p", "max"), y=("y", "max")).reset_index()
    return cards.sort_values(["d", "p"], ascending=[True, False], kind="stable")


def _card_precision_batch(y_true, scores, meta, weights, k: int = 100) -> np.ndarray:
    """Bootstrap replicates of card precision@k, resampling cards (not transactions) per day.

    Resampling transactions would drop ~37% of them and bias the card-level count low, so
    each replicate draws every day's cards with replacement (seeded, deterministic); the
    row weights of the core bootstrap are used only for the number of replicates."""
    B = len(weights)
    if meta is None or not {"customer_id", "day"} <= set(meta.columns):
        return np.full(B, np.nan)
    cards = _card_table(y_true, scores, meta)
    rng = np.random.default_rng(20240101 + len(cards))
    per_day = []
    for _, g in cards.groupby("d", sort=True):
        fraud = g["y"].to_numpy(float)  # already sorted by score, descending
        n = len(fraud)
        m = rng.multinomial(n, np.full(n, 1 / n), size=B)  # (B, n) multiplicities
        before = np.cumsum(m, axis=1) - m
        taken = np.clip(k - before, 0, m)
        per_day.append((taken * fraud).sum(axis=1) / k)
    return np.mean(per_day, axis=0)


card_precision_at_k.batch = _card_precision_batch  # type: ignore[attr-defined]

METRICS = {
    "precision_at_1pct": precision_at_budget,
    "recall_at_1pct": recall_at_budget,
    "expected_cost": min_expected_cost,
    "cp_at_100": card_precision_at_k,
}
