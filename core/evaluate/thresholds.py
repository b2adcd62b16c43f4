"""Decision thresholds for binary scores: cost matrix, target sensitivity, Youden, alert budget."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve


def confusion_at(y_true, p, threshold: float) -> dict[str, float]:
    """Counts and rates when flagging ``p >= threshold``."""
    y = np.asarray(y_true).astype(int)
    flag = np.asarray(p) >= threshold
    tp = int(np.sum(flag & (y == 1)))
    fp = int(np.sum(flag & (y == 0)))
    fn = int(np.sum(~flag & (y == 1)))
    tn = int(np.sum(~flag & (y == 0)))

    def ratio(a: int, b: int) -> float:
        return a / b if b else float("nan")

    return {"threshold": float(threshold), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "sensitivity": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp),
            "precision": ratio(tp, tp + fp), "ppv": ratio(tp, tp + fp), "npv": ratio(tn, tn + fn),
            "flagged": int(flag.sum())}


def _candidates(p) -> np.ndarray:
    u = np.unique(np.asarray(p, dtype=float))
    return np.concatenate([u, [np.inf]])


def cost_threshold(y_true, p, cost_fp: float, cost_fn: float) -> float:
    """The threshold minimising ``cost_fp * FP + cost_fn * FN`` (exact, over every distinct score)."""
    y = np.asarray(y_true).astype(int)
    p = np.asarray(p, dtype=float)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    # flagging the top i rows: FP = negatives among them, FN = positives outside
    cum_pos = np.concatenate([[0], np.cumsum(ys)])
    cum_neg = np.concatenate([[0], np.cumsum(1 - ys)])
    # only cut between distinct scores
    cut_ok = np.concatenate([[True], ps[1:] != ps[:-1], [True]])
    cost = cost_fp * cum_neg + cost_fn * (cum_pos[-1] - cum_pos)
    cost = np.where(cut_ok, cost, np.inf)
    i = int(np.argmin(cost))
    return float(np.inf) if i == 0 else float(ps[i - 1])


def expected_cost(y_true, p, threshold: float, cost_fp: float, cost_fn: float) -> float:
    """Mean cost per case when flagging ``p >= threshold``."""
    c = confusion_at(y_true, p, threshold)
    return (cost_fp * c["fp"] + cost_fn * c["fn"]) / max(len(np.asarray(y_true)), 1)


def sensitivity_threshold(y_true, p, target: float) -> float:
    """The highest threshold whose sensitivity reaches ``target``."""
    y = np.asarray(y_true).astype(int)
    pos = np.sort(np.asarray(p)[y == 1])[::-1]
    if len(pos) == 0:
        return float("nan")
    k = int(np.ceil(target * len(pos)))
    return float(pos[max(k - 1, 0)])


def youden_threshold(y_true, p) -> float:
    """The threshold maximising sensitivity + specificity − 1."""
    if len(np.unique(y_true)) < 2:
        return float("nan")
    fpr, tpr, thr = roc_curve(y_true, p)
    i = int(np.argmax(tpr - fpr))
    return float(min(thr[i], 1.0))


def budget_threshold(p, budget: float) -> float:
    """The threshold that flags the top ``budget`` cases (a fraction if < 1, else a count).

    Rows tied with the last flagged score are flagged too, so ties can exceed the budget.
    """
    p = np.sort(np.asarray(p, dtype=float))[::-1]
    k = int(round(budget * len(p))) if budget < 1 else int(budget)
    k = min(max(k, 1), len(p))
    return float(p[k - 1])


def select_thresholds(y_true, p, *, cost_fp: float, cost_fn: float, target_sensitivity: float,
                      alert_budget: float) -> dict[str, float]:
    """Every method's threshold, chosen on the data given (validation, normally).

    Methods: ``default_0.5``, ``cost`` (min cost_fp*FP + cost_fn*FN), ``target_sensitivity``
    (highest threshold reaching it), ``youden`` (max sensitivity + specificity - 1),
    ``alert_budget`` (top fraction / count). NaN where undefined (one class present).
    """
    return {
        "default_0.5": 0.5,
        "cost": cost_threshold(y_true, p, cost_fp, cost_fn),
        "target_sensitivity": sensitivity_threshold(y_true, p, target_sensitivity),
        "youden": youden_threshold(y_true, p),
        "alert_budget": budget_threshold(p, alert_budget),
    }
