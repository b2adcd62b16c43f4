"""QWK threshold optimisation: cut points for one prompt, fitted on (out-of-fold or validation) predictions.

Cut points are score values; the search runs on the scale's ranks (see scales.py), so a half-point
scale (step 0.5) gets a cut point between every two half points.
"""

from __future__ import annotations

import numpy as np

from verticalkit.core.evaluate.metrics import quadratic_weighted_kappa


def apply_cutpoints(pred: np.ndarray, cutpoints: np.ndarray, low: float, step: float = 1.0) -> np.ndarray:
    """Score = low + step × the number of cut points the prediction is at or above."""
    return low + step * np.searchsorted(np.sort(cutpoints), np.asarray(pred), side="right")


def _qwk_fn(y: np.ndarray, low: int, high: int):
    """``qwk(scores)`` against fixed ``y`` on ``[low, high]``: :func:`quadratic_weighted_kappa`'s value
    (same rounding and clipping, tested) from a bincount, without sklearn's per-call overhead."""
    L = high - low + 1
    a = np.clip(np.rint(np.asarray(y, float)), low, high).astype(int) - low
    i = np.arange(L)
    w = (i[:, None] - i[None, :]) ** 2
    rows = np.bincount(a, minlength=L).astype(float)

    def qwk(scores: np.ndarray) -> float:
        b = np.clip(np.rint(np.asarray(scores, float)), low, high).astype(int) - low
        O = np.bincount(a * L + b, minlength=L * L).reshape(L, L)
        E = np.outer(rows, np.bincount(b, minlength=L)) / len(a)
        den = float(np.sum(w * E))
        return 1 - float(np.sum(w * O)) / den if den > 0 else float("nan")

    return qwk


def fit_cutpoints(y: np.ndarray, pred: np.ndarray, low: float, high: float, step: float = 1.0, n_grid: int = 15,
                  rounds: int = 2) -> np.ndarray:
    """Coordinate search of the cut points maximising QWK, starting at the rounding points (on ``step``)."""
    y, pred = (np.asarray(y, float) - low) / step, (np.asarray(pred, float) - low) / step
    return low + step * _fit_ranks(y, pred, int(np.rint((high - low) / step)), n_grid, rounds)


def _fit_ranks(y: np.ndarray, pred: np.ndarray, high: int, n_grid: int, rounds: int) -> np.ndarray:
    """:func:`fit_cutpoints` on ranks 0..high."""
    low = 0
    cut = np.arange(low, high) + 0.5
    if len(np.unique(y)) < 2 or len(cut) == 0:
        return cut
    qwk = _qwk_fn(y, low, high)
    best = qwk(apply_cutpoints(pred, cut, low))
    for _ in range(rounds):
        for i in range(len(cut)):
            lo = cut[i - 1] if i > 0 else cut[i] - 1
            hi = cut[i + 1] if i + 1 < len(cut) else cut[i] + 1
            for c in np.linspace(lo, hi, n_grid + 2)[1:-1]:
                trial = cut.copy()
                trial[i] = c
                q = qwk(apply_cutpoints(pred, trial, low))
                if q > best + 1e-12:
                    best, cut = q, trial
    return cut
