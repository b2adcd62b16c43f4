"""Metrics per task kind, computed with scikit-learn (not re-implemented).

Every metric has the signature ``fn(y_true, scores, meta=None) -> float`` where
``scores`` is the canonical score of :meth:`Predictor.predict_score`: P(class 1)
for binary, ``(n, k)`` probabilities for multi-class / multi-label, predicted
values for ordinal / regression. A metric undefined on a sample (one class
present) returns NaN instead of raising.

For the bootstrap, core metrics also carry ``fn.batch(y_true, scores, meta, weights)``:
the same metric for ``B`` resamples at once, each resample given as a row of
``weights`` (``(B, n)`` multiplicities: how often each row was drawn). The
weighted value equals the sklearn value on the resampled rows (tested in
tests/test_metrics.py); vertical metrics without ``batch`` are called once per resample.
A vertical metric can attach its own ``fn.batch = lambda y, s, meta, W: ...`` (see
:func:`qwk_batch`) to join the fast path; pairing is kept either way.

Thresholded metrics use 0.5 (binary / multi-label) or argmax (multi-class).
Macro AUROC/AUPRC average the one-vs-rest values of the classes that have both
positives and negatives in the sample (equal to sklearn's macro OvR when all do).
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Callable

import numpy as np
from scipy import sparse, stats
from sklearn import metrics as skm

from .calibration import expected_calibration_error, reliability_bins
from ..data.adapter import Task
from ..errors import ConfigError

MetricFn = Callable[..., float]
BatchFn = Callable[[np.ndarray, np.ndarray, Any, np.ndarray], np.ndarray]

# Lower is better for these; metric_fn negates them so that higher is always better.
LOWER_IS_BETTER = {"brier", "ece", "mae", "rmse", "log_loss", "loss", "mse", "mcrmse"}


def metric(scalar: Callable[[np.ndarray, np.ndarray], float], batch: Callable | None = None,
           name: str = "metric") -> MetricFn:
    """Wrap ``scalar(y, s)`` as ``fn(y_true, scores, meta=None)`` returning NaN where undefined.

    ``batch(y, s, W) -> (B,)``, when given, is exposed as ``fn.batch(y, s, meta, W)``.
    """
    def wrapped(y_true, scores, meta=None) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return float(scalar(np.asarray(y_true), np.asarray(scores)))
            except (ValueError, ZeroDivisionError, FloatingPointError):
                return float("nan")

    wrapped.__name__ = name
    if batch is not None:
        def batched(y_true, scores, meta, weights) -> np.ndarray:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                return np.asarray(batch(np.asarray(y_true), np.asarray(scores), weights), dtype=float)

        wrapped.batch = batched  # type: ignore[attr-defined]
    return wrapped


def _one_class(y: np.ndarray) -> bool:
    return len(np.unique(y)) < 2


def _div(a, b, empty: float = np.nan):
    """a / b elementwise with ``empty`` where b == 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out = np.full(np.broadcast(a, b).shape, empty, dtype=float)
    np.divide(a, b, out=out, where=b != 0)
    return out


# ----------------------------------------------------------------------------- binary


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


def sensitivity(y, yhat):
    return skm.recall_score(y, yhat, zero_division=0)


def specificity(y, yhat):
    return skm.recall_score(1 - np.asarray(y), 1 - np.asarray(yhat), zero_division=0)


class _Cache:
    """Memo shared by the metrics of one resample chunk (sorts, cumulative sums, counts).

    Entries are keyed by the identity of the arrays they were computed from (and hold
    them, so identities cannot be reused); the bootstrap clears it after every chunk.
    """

    def __init__(self, max_entries: int = 512) -> None:
        self.store: dict = {}
        self.max_entries = max_entries

    def get(self, refs: tuple, key: Any, make: Callable[[], Any]) -> Any:
        full = (tuple(id(r) for r in refs), key)
        hit = self.store.get(full)
        if hit is not None and all(a is b for a, b in zip(hit[0], refs)):
            return hit[1]
        if len(self.store) >= self.max_entries:
            self.store.clear()
        value = make()
        self.store[full] = (refs, value)
        return value

    def clear(self) -> None:
        self.store.clear()


_CACHE = _Cache()  # per resample chunk: depends on the weights
_STATIC = _Cache()  # per bootstrap: sort orders and column views, independent of the weights


def clear_caches() -> None:
    _CACHE.clear()
    _STATIC.clear()


def _sort_info(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Descending score order, last index of each tie group, positive columns, positives up to each group."""
    def make():
        order = np.argsort(-p, kind="mergesort")
        ps, ys = p[order], y[order].astype(bool)
        ends = np.r_[np.flatnonzero(ps[1:] != ps[:-1]), len(ps) - 1]
        pos = order[ys]
        npos = np.cumsum(ys)[ends]
        return order, ends, pos, npos

    return _STATIC.get((y, p), "sort", make)


def weighted_curve(y: np.ndarray, p: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates' weighted cumulative (TP, FP) at every distinct score, highest first:
    ``(B, m)`` each (row weights ``W``: ``(B, n)``); cached per chunk, so a vertical's batched
    metrics (``fn.batch``) share it with the core ones."""
    def make():
        order, ends, pos, npos = _sort_info(y, p)
        cum_pos = np.zeros((W.shape[0], len(pos) + 1))
        np.cumsum(W[:, pos], axis=1, out=cum_pos[:, 1:])
        tp = cum_pos[:, npos]
        fp = np.cumsum(W[:, order], axis=1)[:, ends] - tp
        return tp, fp

    return _CACHE.get((y, p, W), "curve", make)


def _auc_batch(y, p, W):
    def make():
        tp, fp = weighted_curve(y, p, W)
        P, N = tp[:, -1:], fp[:, -1:]
        tpr, fpr = tp / P, fp / N
        auc = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]), axis=1) / 2 + fpr[:, 0] * tpr[:, 0] / 2
        return np.where((P[:, 0] > 0) & (N[:, 0] > 0), auc, np.nan)

    return _CACHE.get((y, p, W), "auc", make)


def _ap_batch(y, p, W):
    tp, fp = weighted_curve(y, p, W)
    P, N = tp[:, -1:], fp[:, -1:]
    precision = tp / (tp + fp)
    precision[~np.isfinite(precision)] = 1.0  # no flagged rows yet: recall does not move there
    recall_step = np.diff(tp, axis=1, prepend=0.0) / P
    ap = np.sum(recall_step * precision, axis=1)
    return np.where((P[:, 0] > 0) & (N[:, 0] > 0), ap, np.nan)


def _ks_batch(y, p, W):
    tp, fp = weighted_curve(y, p, W)
    P, N = tp[:, -1:], fp[:, -1:]
    ks = np.maximum(np.max(tp / P - fp / N, axis=1), 0.0)
    return np.where((P[:, 0] > 0) & (N[:, 0] > 0), ks, np.nan)


def _confusion_batch(y, p, W):
    """Weighted (tp, fp, fn, tn) at p >= 0.5."""
    def make():
        yb, flag = y.astype(bool), p >= 0.5
        M = np.stack([yb & flag, ~yb & flag, yb & ~flag, ~yb & ~flag], axis=1).astype(float)
        return tuple((W @ M).T)

    return _CACHE.get((y, p, W), "confusion", make)


def _balanced_batch(y, p, W):
    tp, fp, fn, tn = _confusion_batch(y, p, W)
    sens, spec = _div(tp, tp + fn), _div(tn, tn + fp)
    return np.nanmean(np.stack([sens, spec]), axis=0)


def _ece_batch(n_bins: int):
    def batch(y, p, W):
        pc = np.clip(p.astype(float), 0, 1)
        edges = np.linspace(0, 1, n_bins + 1)
        which = np.clip(np.digitize(pc, edges[1:-1]), 0, n_bins - 1)
        M = sparse.csr_matrix((pc - y, (which, np.arange(len(y)))), shape=(n_bins, len(y)))
        gap = np.abs(np.asarray((M @ W.T).T))  # (B, bins): |sum p - sum y| per bin
        return gap.sum(axis=1) / W.sum(axis=1)
    return batch


def binary_metrics(ece_bins: int = 15) -> dict[str, MetricFn]:
    def at_half(fn):
        return lambda y, p: fn(y, (p >= 0.5).astype(int))

    tot = lambda W: W.sum(axis=1)  # noqa: E731
    cb = _confusion_batch
    return {
        "roc_auc": metric(_binary_auc, _auc_batch, "roc_auc"),
        "auprc": metric(_binary_ap, _ap_batch, "auprc"),
        "gini": metric(lambda y, p: 2 * _binary_auc(y, p) - 1, lambda y, p, W: 2 * _auc_batch(y, p, W) - 1, "gini"),
        "ks": metric(ks_statistic, _ks_batch, "ks"),
        "brier": metric(skm.brier_score_loss, lambda y, p, W: W @ (p - y) ** 2 / tot(W), "brier"),
        "ece": metric(lambda y, p: expected_calibration_error(y, p, ece_bins), _ece_batch(ece_bins), "ece"),
        "accuracy": metric(at_half(skm.accuracy_score),
                           lambda y, p, W: (cb(y, p, W)[0] + cb(y, p, W)[3]) / tot(W), "accuracy"),
        "balanced_accuracy": metric(at_half(skm.balanced_accuracy_score), _balanced_batch, "balanced_accuracy"),
        "precision": metric(at_half(lambda y, h: skm.precision_score(y, h, zero_division=0)),
                            lambda y, p, W: _div(cb(y, p, W)[0], cb(y, p, W)[0] + cb(y, p, W)[1], 0.0),
                            "precision"),
        "sensitivity": metric(at_half(sensitivity),
                              lambda y, p, W: _div(cb(y, p, W)[0], cb(y, p, W)[0] + cb(y, p, W)[2], 0.0),
                              "sensitivity"),
        "specificity": metric(at_half(specificity),
                              lambda y, p, W: _div(cb(y, p, W)[3], cb(y, p, W)[3] + cb(y, p, W)[1], 0.0),
                              "specificity"),
        "f1": metric(at_half(lambda y, h: skm.f1_score(y, h, zero_division=0)),
                     lambda y, p, W: _div(2 * cb(y, p, W)[0], 2 * cb(y, p, W)[0] + cb(y, p, W)[1] + cb(y, p, W)[2],
                                          0.0), "f1"),
    }


# ----------------------------------------------------------------------------- multi-class / multi-label


def _onehot(y: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k, dtype=int)[np.asarray(y, dtype=int)]


def _per_column(Y: np.ndarray, P: np.ndarray, fn) -> np.ndarray:
    return np.array([fn(Y[:, j], P[:, j]) for j in range(P.shape[1])], dtype=float)


def _nanmean(v: np.ndarray, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmean(v, axis=axis)


def _column_batch(fn, Y, P, W) -> np.ndarray:
    """``(B, k)``: a binary batch metric per column (one-vs-rest)."""
    cols = _STATIC.get((Y, P), "columns", lambda: [(np.ascontiguousarray(Y[:, j]), np.ascontiguousarray(P[:, j]))
                                                  for j in range(P.shape[1])])
    return np.stack([fn(yj, pj, W) for yj, pj in cols], axis=1)


def _column_cached(name: str, fn, Y, P, W) -> np.ndarray:
    return _CACHE.get((Y, P, W), ("cols", name), lambda: _column_batch(fn, Y, P, W))


def _class_metrics(k: int, indicator: Callable[[np.ndarray, int], np.ndarray]) -> dict[str, MetricFn]:
    """Macro and per-class AUROC/AUPRC; ``indicator(y, k)`` gives the ``(n, k)`` 0/1 targets."""
    def ind_cached(y):
        return _STATIC.get((y,), "indicator", lambda: indicator(y, k))

    def macro(fn):
        return lambda y, P: float(_nanmean(_per_column(indicator(y, k), P, fn))) \
            if not np.all(np.isnan(_per_column(indicator(y, k), P, fn))) else np.nan

    def macro_batch(name, fn):
        return lambda y, P, W: _nanmean(_column_cached(name, fn, ind_cached(y), P, W), axis=1)

    out = {"roc_auc": metric(macro(_binary_auc), macro_batch("auc", _auc_batch), "roc_auc"),
           "auprc": metric(macro(_binary_ap), macro_batch("ap", _ap_batch), "auprc")}
    for j in range(k):
        out[f"roc_auc_class{j}"] = metric(
            lambda y, P, j=j: _binary_auc(indicator(y, k)[:, j], P[:, j]),
            lambda y, P, W, j=j: _column_cached("auc", _auc_batch, ind_cached(y), P, W)[:, j], f"roc_auc_class{j}")
        out[f"auprc_class{j}"] = metric(
            lambda y, P, j=j: _binary_ap(indicator(y, k)[:, j], P[:, j]),
            lambda y, P, W, j=j: _column_cached("ap", _ap_batch, ind_cached(y), P, W)[:, j], f"auprc_class{j}")
    return out


def _mc_counts(y, P, W):
    """Weighted per-class (tp, fp, fn) of argmax predictions: ``(B, k)`` each."""
    def make():
        k = P.shape[1]
        Y, H = _onehot(y, k), _onehot(P.argmax(1), k)
        tp = W @ (Y * H)
        return tp, W @ H - tp, W @ Y - tp
    return _CACHE.get((y, P, W), "mc_counts", make)


def _macro_prf(tp, fp, fn, which: str) -> np.ndarray:
    """sklearn macro average over the labels present in y_true or y_pred, zero_division=0."""
    present = (tp + fp + fn) > 0
    if which == "precision":
        v = _div(tp, tp + fp, 0.0)
    elif which == "recall":
        v = _div(tp, tp + fn, 0.0)
    else:
        v = _div(2 * tp, 2 * tp + fp + fn, 0.0)
    return _div(np.sum(v * present, axis=1), present.sum(axis=1))


def _log_loss_rows(y: np.ndarray, P: np.ndarray) -> np.ndarray:
    P = np.clip(P.astype(float), np.finfo(float).eps, 1 - np.finfo(float).eps)
    P = P / P.sum(axis=1, keepdims=True)
    return -np.log(P[np.arange(len(y)), np.asarray(y, dtype=int)])


def multiclass_metrics(k: int) -> dict[str, MetricFn]:
    labels = np.arange(k)

    def prf(which):
        return lambda y, P, W: _macro_prf(*_mc_counts(y, P, W), which)

    def bal_batch(y, P, W):
        tp, _, fn = _mc_counts(y, P, W)
        return _nanmean(_div(tp, tp + fn), axis=1)

    out = {
        **_class_metrics(k, _onehot),
        "accuracy": metric(lambda y, P: skm.accuracy_score(y, P.argmax(1)),
                           lambda y, P, W: _mc_counts(y, P, W)[0].sum(1) / W.sum(1), "accuracy"),
        "balanced_accuracy": metric(lambda y, P: skm.balanced_accuracy_score(y, P.argmax(1)), bal_batch,
                                    "balanced_accuracy"),
        "precision_macro": metric(lambda y, P: skm.precision_score(y, P.argmax(1), average="macro", zero_division=0),
                                  prf("precision"), "precision_macro"),
        "recall_macro": metric(lambda y, P: skm.recall_score(y, P.argmax(1), average="macro", zero_division=0),
                               prf("recall"), "recall_macro"),
        "f1_macro": metric(lambda y, P: skm.f1_score(y, P.argmax(1), average="macro", zero_division=0),
                           prf("f1"), "f1_macro"),
        "log_loss": metric(lambda y, P: skm.log_loss(y, P, labels=labels),
                           lambda y, P, W: W @ _log_loss_rows(y, P) / W.sum(1), "log_loss"),
    }
    return out


def _ml_counts(Y, P, W):
    def make():
        H = (P >= 0.5).astype(float)
        Yf = Y.astype(float)
        tp = W @ (Yf * H)
        return tp, W @ H - tp, W @ Yf - tp
    return _CACHE.get((Y, P, W), "ml_counts", make)


def multilabel_metrics(k: int) -> dict[str, MetricFn]:
    """``accuracy`` is the mean per-label accuracy at 0.5 (MedMNIST's ACC); ``subset_accuracy`` is sklearn's."""
    def f1_batch(Y, P, W):
        tp, fp, fn = _ml_counts(Y, P, W)
        return np.mean(_div(2 * tp, 2 * tp + fp + fn, 0.0), axis=1)

    def acc_batch(Y, P, W):
        tp, fp, fn = _ml_counts(Y, P, W)
        return 1 - (fp + fn).sum(1) / (W.sum(1) * P.shape[1])

    def subset_batch(Y, P, W):
        return W @ np.all(Y.astype(bool) == (P >= 0.5), axis=1).astype(float) / W.sum(1)

    return {
        **_class_metrics(k, lambda Y, k: np.asarray(Y, dtype=int)),
        "accuracy": metric(lambda Y, P: 1 - skm.hamming_loss(Y, (P >= 0.5).astype(int)), acc_batch, "accuracy"),
        "subset_accuracy": metric(lambda Y, P: skm.accuracy_score(Y, (P >= 0.5).astype(int)), subset_batch,
                                  "subset_accuracy"),
        "f1_macro": metric(lambda Y, P: skm.f1_score(Y, (P >= 0.5).astype(int), average="macro", zero_division=0),
                           f1_batch, "f1_macro"),
    }


# ----------------------------------------------------------------------------- ordinal / regression


def _round_clip(v, lo: float, hi: float) -> np.ndarray:
    return np.clip(np.rint(np.asarray(v, dtype=float)), lo, hi).astype(int)


def quadratic_weighted_kappa(y, pred, low: float | None = None, high: float | None = None) -> float:
    """QWK (sklearn ``cohen_kappa_score``, quadratic weights) of rounded, clipped scores.

    Targets and predictions are rounded to integers and clipped to ``[low, high]``
    (default: the range of ``y``).
    """
    y = np.asarray(y, dtype=float)
    lo = np.rint(np.min(y)) if low is None else np.rint(low)
    hi = np.rint(np.max(y)) if high is None else np.rint(high)
    labels = np.arange(int(lo), int(hi) + 1)
    return skm.cohen_kappa_score(_round_clip(y, lo, hi), _round_clip(pred, lo, hi), weights="quadratic",
                                 labels=labels)


def _qwk_batch(low: float | None, high: float | None):
    def batch(y, pred, W):
        y = np.asarray(y, dtype=float)
        lo = np.rint(np.min(y)) if low is None else np.rint(low)
        hi = np.rint(np.max(y)) if high is None else np.rint(high)
        L = int(hi - lo) + 1
        a, b = _round_clip(y, lo, hi) - int(lo), _round_clip(pred, lo, hi) - int(lo)
        M = sparse.csr_matrix((np.ones(len(y)), (a * L + b, np.arange(len(y)))), shape=(L * L, len(y)))
        O = np.asarray((M @ W.T).T).reshape(-1, L, L)
        rows, cols = O.sum(2), O.sum(1)
        E = rows[:, :, None] * cols[:, None, :] / O.sum((1, 2))[:, None, None]
        i = np.arange(L)
        w = (i[:, None] - i[None, :]) ** 2
        return 1 - _div(np.sum(w * O, axis=(1, 2)), np.sum(w * E, axis=(1, 2)))
    return batch


def qwk_batch(y, pred, weights, low: float | None = None, high: float | None = None) -> np.ndarray:
    """:func:`quadratic_weighted_kappa` for each row of ``weights`` (``(B, n)`` resample multiplicities).

    For a vertical metric's ``.batch`` (e.g. QWK per prompt): equal to sklearn's value on
    the resampled rows (tested), without one sklearn call per replicate.
    """
    with np.errstate(all="ignore"):
        return _qwk_batch(low, high)(np.asarray(y), np.asarray(pred), np.atleast_2d(np.asarray(weights, dtype=float)))


def _pearson(y, p):
    if np.std(p) == 0 or np.std(y) == 0:
        return np.nan
    return stats.pearsonr(y, p)[0]


def _moments(y, p, W):
    """Weighted centred moments per resample: mean y, mean p, var y, var p, cov, mse, mae."""
    def make():
        yf, pf = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
        yc, pc = yf - yf.mean(), pf - pf.mean()
        tot = W.sum(1)
        my, mp = W @ yc / tot, W @ pc / tot
        vy = W @ yc ** 2 / tot - my ** 2
        vp = W @ pc ** 2 / tot - mp ** 2
        cov = W @ (yc * pc) / tot - my * mp
        return {"vy": vy, "vp": vp, "cov": cov, "mse": W @ (pf - yf) ** 2 / tot,
                "mae": W @ np.abs(pf - yf) / tot}
    return _CACHE.get((y, p, W), "moments", make)


def _r2_batch(y, p, W):
    m = _moments(y, p, W)
    sst = m["vy"]
    r2 = 1 - _div(m["mse"], sst)
    return np.where(sst > 1e-12 * max(1.0, float(np.var(y))), r2, np.where(m["mse"] == 0, 1.0, 0.0))


def _pearson_batch(y, p, W):
    m = _moments(y, p, W)
    ok = (m["vy"] > 1e-12) & (m["vp"] > 1e-12)
    return np.where(ok, _div(m["cov"], np.sqrt(np.abs(m["vy"] * m["vp"]))), np.nan)


def regression_metrics(task: Task) -> dict[str, MetricFn]:
    """MAE, RMSE, R², Pearson; QWK and exact agreement for ordinal tasks; QWK for a regression on a
    discrete scale (``task.discrete``: rounding a continuous target to integers means nothing)."""
    lo, hi = task.score_range if task.score_range else (None, None)
    out = {
        "mae": metric(skm.mean_absolute_error, lambda y, p, W: _moments(y, p, W)["mae"], "mae"),
        "rmse": metric(lambda y, p: np.sqrt(skm.mean_squared_error(y, p)),
                       lambda y, p, W: np.sqrt(_moments(y, p, W)["mse"]), "rmse"),
        "pearson": metric(_pearson, _pearson_batch, "pearson"),
        "r2": metric(skm.r2_score, _r2_batch, "r2"),
    }
    if task.kind == "ordinal" or task.discrete:
        out["qwk"] = metric(lambda y, p: quadratic_weighted_kappa(y, p, lo, hi), _qwk_batch(lo, hi), "qwk")
    if task.kind == "ordinal":
        def exact(y, p):
            a, b = (lo, hi) if lo is not None else (np.min(y), np.max(y))
            return np.mean(_round_clip(p, a, b) == np.rint(np.asarray(y, dtype=float)))

        def exact_batch(y, p, W):
            a, b = (lo, hi) if lo is not None else (np.min(y), np.max(y))
            return W @ (_round_clip(p, a, b) == np.rint(np.asarray(y, dtype=float))).astype(float) / W.sum(1)

        out["exact_agreement"] = metric(exact, exact_batch, "exact_agreement")
    return out


def graded_metrics(k: int) -> dict[str, MetricFn]:
    """Grade agreement for a multiclass task over ordered grades 0..k-1 (``Task.ordered``).

    The predicted grade is the argmax of the ``(n, k)`` probabilities (as ``predict`` gives);
    ``qwk`` (sklearn, quadratic weights over all k grades), ``mae`` in grades, ``exact_agreement``
    (= accuracy) and ``adjacent_agreement`` (within one grade).
    """
    def grade(P):
        return np.asarray(P).argmax(axis=1)

    def err(y, P):
        return np.abs(grade(P) - np.asarray(y, dtype=int)).astype(float)

    qwk_b = _qwk_batch(0, k - 1)
    return {
        "qwk": metric(lambda y, P: quadratic_weighted_kappa(y, grade(P), 0, k - 1),
                      lambda y, P, W: qwk_b(y, grade(P), W), "qwk"),
        "mae": metric(lambda y, P: err(y, P).mean(), lambda y, P, W: W @ err(y, P) / W.sum(1), "mae"),
        "exact_agreement": metric(lambda y, P: np.mean(err(y, P) == 0),
                                  lambda y, P, W: W @ (err(y, P) == 0) / W.sum(1), "exact_agreement"),
        "adjacent_agreement": metric(lambda y, P: np.mean(err(y, P) <= 1),
                                     lambda y, P, W: W @ (err(y, P) <= 1) / W.sum(1), "adjacent_agreement"),
    }


# ----------------------------------------------------------------------------- multi-output regression


def output_name(name: Any) -> str:
    """An output name (a ``task.classes`` entry) as a metric-name suffix: ``"Word Choice"`` → ``word_choice``."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower() or "output"


def _column(y, s, meta, j: int, output: str = ""):
    """(row mask, y, scores, meta) of output ``j`` on the rows where target and score are both present.

    ``meta.attrs["output"]`` names the output (:func:`output_name`), for metrics that read
    per-output meta columns (e.g. a second rater's score of that output).
    """
    def make():
        yf, sf = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
        m = np.isfinite(yf[:, j]) & np.isfinite(sf[:, j])
        sub = None if meta is None else meta[m].reset_index(drop=True)
        if sub is not None:
            sub.attrs["output"] = output
        return m, np.ascontiguousarray(yf[m, j]), np.ascontiguousarray(sf[m, j]), sub

    return _STATIC.get((y, s) if meta is None else (y, s, meta), ("output", j), make)


def _per_output(fn: MetricFn, j: int, name: str, output: str = "") -> MetricFn:
    """``fn`` on output ``j`` (named ``output``) alone (rows where it is present); keeps ``fn.batch``."""
    def scalar(y_true, scores, meta=None) -> float:
        _, yj, sj, mj = _column(y_true, scores, meta, j, output)
        return float(fn(yj, sj, mj)) if len(yj) else float("nan")

    scalar.__name__ = f"{name}_{j}"
    if hasattr(fn, "batch"):
        def batch(y_true, scores, meta, W) -> np.ndarray:
            def make():
                m, yj, sj, mj = _column(y_true, scores, meta, j, output)
                if not len(yj):
                    return np.full(len(W), np.nan)
                Wj = _CACHE.get((y_true, scores, W), ("output_weights", j), lambda: np.ascontiguousarray(W[:, m]))
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    return np.asarray(fn.batch(yj, sj, mj, Wj), dtype=float)

            return _CACHE.get((y_true, scores, W), ("output_metric", name, j), make)

        scalar.batch = batch  # type: ignore[attr-defined]
    return scalar


def _mean_over_outputs(columns: list[MetricFn], name: str) -> MetricFn:
    def scalar(y_true, scores, meta=None) -> float:
        vals = np.array([c(y_true, scores, meta) for c in columns], dtype=float)
        return float(_nanmean(vals)) if np.isfinite(vals).any() else float("nan")

    scalar.__name__ = name
    if all(hasattr(c, "batch") for c in columns):
        scalar.batch = lambda y, s, meta, W: _nanmean(  # type: ignore[attr-defined]
            np.stack([c.batch(y, s, meta, W) for c in columns], axis=1), axis=1)
    return scalar


def per_output_metrics(fns: dict[str, MetricFn], outputs: list[Any]) -> dict[str, MetricFn]:
    """One-target metrics for a multioutput task: each per output and averaged over the outputs.

    ``{name}`` is the mean over outputs of ``{name}_{output}`` (the metric on that output's
    rows where target and score are present; see :func:`output_name`); so ``rmse`` is the
    mean column-wise RMSE, also reported as ``mcrmse``. Bootstrapped like any metric
    (the ``.batch`` fast path is kept).
    """
    columns = {name: [_per_output(fn, j, name, output_name(o)) for j, o in enumerate(outputs)]
               for name, fn in fns.items()}
    out: dict[str, MetricFn] = {name: _mean_over_outputs(cols, name) for name, cols in columns.items()}
    if "rmse" in out:
        out["mcrmse"] = out["rmse"]
    for j, o in enumerate(outputs):
        for name, cols in columns.items():
            out[f"{name}_{output_name(o)}"] = cols[j]
    return out


def multioutput_metrics(task: Task) -> dict[str, MetricFn]:
    """The regression metrics (QWK on a discrete scale) per output and averaged, plus ``mcrmse``."""
    one = Task(kind="regression", target=task.target, primary_metric=task.primary_metric,
               score_range=task.score_range, discrete=task.discrete)
    return per_output_metrics(regression_metrics(one), list(task.classes))


# ----------------------------------------------------------------------------- selection


def core_metrics(task: Task, ece_bins: int = 15) -> dict[str, MetricFn]:
    """The metrics that apply to ``task.kind`` (name -> ``fn(y_true, scores, meta=None)``)."""
    if task.kind == "binary":
        return binary_metrics(ece_bins)
    if task.kind == "multiclass":
        k = len(task.classes)
        return {**multiclass_metrics(k), **(graded_metrics(k) if task.ordered else {})}
    if task.kind == "multilabel":
        return multilabel_metrics(len(task.classes))
    if task.kind == "multioutput":
        return multioutput_metrics(task)
    return regression_metrics(task)


def task_metrics(task: Task, extra: dict[str, Any] | None = None, ece_bins: int = 15) -> dict[str, MetricFn]:
    """:func:`core_metrics` plus a vertical's ``extra`` metrics (which override same-named core ones).

    For a multioutput task the extra metrics are one-target metrics, applied per output and
    averaged (:func:`per_output_metrics`).
    """
    extra = dict(extra or {})
    if task.kind == "multioutput" and extra:
        extra = per_output_metrics(extra, list(task.classes))
    return {**core_metrics(task, ece_bins=ece_bins), **extra}


def higher_is_better(name: str) -> bool:
    """False for ``LOWER_IS_BETTER`` names and their per-output forms (``rmse_<output>``)."""
    return name not in LOWER_IS_BETTER and not any(name.startswith(f"{b}_") for b in LOWER_IS_BETTER)


def metric_fn(task: Task, name: str, extra: dict[str, Any] | None = None) -> Callable[[np.ndarray, np.ndarray], float]:
    """One metric as ``fn(y_true, scores, meta=None) -> float`` for early stopping and model selection.

    Higher is always better: lower-is-better metrics (``LOWER_IS_BETTER``: brier, ece,
    mae, rmse, log_loss, ...) are negated. ``extra`` holds the vertical's metrics.
    Raises ConfigError, listing the valid names, for an unknown name.
    """
    available = task_metrics(task, extra)
    if name not in available:
        raise ConfigError(f"unknown metric {name!r} for a {task.kind} task; valid: {', '.join(sorted(available))} "
                          f"(set task.primary_metric or the vertical's metrics)")
    fn = available[name]
    sign = 1.0 if higher_is_better(name) else -1.0

    def score(y_true, scores, meta=None) -> float:
        return sign * float(fn(y_true, scores, meta))

    score.__name__ = f"{'neg_' if sign < 0 else ''}{name}"
    return score


__all__ = ["LOWER_IS_BETTER", "MetricFn", "binary_metrics", "core_metrics", "higher_is_better", "ks_statistic",
           "metric", "metric_fn", "multiclass_metrics", "multilabel_metrics", "multioutput_metrics", "output_name",
           "per_output_metrics", "quadratic_weighted_kappa", "qwk_batch", "regression_metrics", "reliability_bins",
           "sensitivity", "specificity", "task_metrics", "graded_metrics"]
