"""Metrics per task kind, computed with scikit-learn (not re-implemented).

Every metric has the signature ``fn(y_true, scores, meta=None) -> float`` where
``scores`` is the canonical score of :meth:`Predictor.predict_score`: P(class 1)
for binary, ``(n, k)`` probabilities for multi-class / multi-label, predicted
values for ordinal / regression. A metric undefined on a sample (one class
present) returns NaN.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
from sklearn import metrics as skm

from .calibration import expected_calibration_error
from .data import Task
from .errors import ConfigError

MetricFn = Callable[..., float]

# Metrics where lower is better; metric_fn negates them for early stopping.
LOWER_IS_BETTER = {"brier", "ece", "mae", "rmse", "log_loss"}


def _safe(fn: Callable[..., float]) -> MetricFn:
    def wrapped(y_true, scores, meta=None) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return float(fn(np.asarray(y_true), np.asarray(scores)))
            except ValueError:
                return float("nan")
    wrapped.__name__ = getattr(fn, "__name__", "metric")
    return wrapped


def _one_class(y: np.ndarray) -> bool:
    return len(np.unique(y)) < 2


def _binary_auc(y, p):
    return np.nan if _one_class(y) else skm.roc_auc_score(y, p)


def _binary_ap(y, p):
    return np.nan if _one_class(y) else skm.average_precision_score(y, p)


def ks_statistic(y, p):
    """Kolmogorov–Smirnov: max distance between the score CDFs of the two classes."""
    if _one_class(y):
        return np.nan
    fpr, tpr, _ = skm.roc_curve(y, p)
    return float(np.max(tpr - fpr))


def _at_half(fn):
    return lambda y, p: fn(y, (p >= 0.5).astype(int))


def sensitivity(y, yhat):
    return skm.recall_score(y, yhat, zero_division=0)


def specificity(y, yhat):
    return skm.recall_score(1 - np.asarray(y), 1 - np.asarray(yhat), zero_division=0)


def binary_metrics() -> dict[str, MetricFn]:
    return {
        "roc_auc": _safe(_binary_auc),
        "auprc": _safe(_binary_ap),
        "gini": _safe(lambda y, p: 2 * _binary_auc(y, p) - 1),
        "ks": _safe(ks_statistic),
        "brier": _safe(skm.brier_score_loss),
        "ece": _safe(lambda y, p: expected_calibration_error(y, p)),
        "accuracy": _safe(_at_half(skm.accuracy_score)),
        "balanced_accuracy": _safe(_at_half(skm.balanced_accuracy_score)),
        "precision": _safe(_at_half(lambda y, h: skm.precision_score(y, h, zero_division=0))),
        "recall": _safe(_at_half(sensitivity)),
        "specificity": _safe(_at_half(specificity)),
        "f1": _safe(_at_half(lambda y, h: skm.f1_score(y, h, zero_division=0))),
    }


def _multiclass_auc(y, P):
    present = np.unique(y)
    if len(present) < 2:
        return np.nan
    if P.shape[1] == 2:
        return skm.roc_auc_score(y, P[:, 1])
    return skm.roc_auc_score(y, P, multi_class="ovr", average="macro", labels=np.arange(P.shape[1]))


def _multiclass_ap(y, P):
    onehot = np.eye(P.shape[1])[np.asarray(y, dtype=int)]
    keep = onehot.sum(0) > 0
    return skm.average_precision_score(onehot[:, keep], P[:, keep], average="macro")


def multiclass_metrics(k: int) -> dict[str, MetricFn]:
    out = {
        "roc_auc": _safe(_multiclass_auc),
        "auprc": _safe(_multiclass_ap),
        "accuracy": _safe(lambda y, P: skm.accuracy_score(y, P.argmax(1))),
        "balanced_accuracy": _safe(lambda y, P: skm.balanced_accuracy_score(y, P.argmax(1))),
        "f1_macro": _safe(lambda y, P: skm.f1_score(y, P.argmax(1), average="macro", zero_division=0)),
        "log_loss": _safe(lambda y, P: skm.log_loss(y, P, labels=np.arange(P.shape[1]))),
    }
    for j in range(k):
        out[f"roc_auc_class{j}"] = _safe(lambda y, P, j=j: _binary_auc((y == j).astype(int), P[:, j]))
    return out


def multilabel_metrics(k: int) -> dict[str, MetricFn]:
    def per_label(fn):
        def macro(Y, P):
            vals = [fn(Y[:, j], P[:, j]) for j in range(Y.shape[1])]
            return np.nanmean(vals) if not np.all(np.isnan(vals)) else np.nan
        return macro

    out = {
        "roc_auc": _safe(per_label(_binary_auc)),
        "auprc": _safe(per_label(_binary_ap)),
        "accuracy": _safe(lambda Y, P: np.mean(Y == (P >= 0.5))),
        "f1_macro": _safe(lambda Y, P: skm.f1_score(Y, (P >= 0.5).astype(int), average="macro", zero_division=0)),
    }
    for j in range(k):
        out[f"roc_auc_label{j}"] = _safe(lambda Y, P, j=j: _binary_auc(Y[:, j], P[:, j]))
    return out


def quadratic_weighted_kappa(y, pred, low: float | None = None, high: float | None = None) -> float:
    """QWK between integer scores; predictions are rounded and clipped to [low, high]."""
    y = np.asarray(y)
    lo = np.min(y) if low is None else low
    hi = np.max(y) if high is None else high
    pred = np.clip(np.rint(pred), lo, hi).astype(int)
    labels = np.arange(int(lo), int(hi) + 1)
    return skm.cohen_kappa_score(y.astype(int), pred, weights="quadratic", labels=labels)


def regression_metrics(task: Task) -> dict[str, MetricFn]:
    lo, hi = task.score_range if task.score_range else (None, None)
    out = {
        "mae": _safe(skm.mean_absolute_error),
        "rmse": _safe(lambda y, p: np.sqrt(skm.mean_squared_error(y, p))),
        "pearson": _safe(lambda y, p: np.nan if np.std(p) == 0 or np.std(y) == 0 else np.corrcoef(y, p)[0, 1]),
        "r2": _safe(skm.r2_score),
    }
    if task.kind == "ordinal":
        out["qwk"] = _safe(lambda y, p: quadratic_weighted_kappa(y, p, lo, hi))
        out["exact_agreement"] = _safe(lambda y, p: np.mean(np.rint(np.clip(p, lo if lo is not None else -np.inf,
                                                                            hi if hi is not None else np.inf)) == y))
    return out


def core_metrics(task: Task) -> dict[str, MetricFn]:
    """The metrics that apply to ``task.kind``."""
    if task.kind == "binary":
        return binary_metrics()
    if task.kind == "multiclass":
        return multiclass_metrics(len(task.classes))
    if task.kind == "multilabel":
        return multilabel_metrics(len(task.classes))
    return regression_metrics(task)


def metric_fn(task: Task, name: str, extra: dict[str, Any] | None = None) -> Callable[[np.ndarray, np.ndarray], float]:
    """One metric as ``fn(y_true, scores) -> float``, higher is better (lower-is-better ones negated)."""
    available = {**core_metrics(task), **(extra or {})}
    if name not in available:
        raise ConfigError(f"unknown metric {name!r} for a {task.kind} task; valid: {', '.join(available)}")
    fn = available[name]
    sign = -1.0 if name in LOWER_IS_BETTER else 1.0

    def score(y_true, scores, meta=None):
        return sign * fn(y_true, scores, meta)

    return score
