"""Seeded, paired bootstrap confidence intervals.

Paired: one replicate draws one index set and every metric is computed on it, so
differences between metrics (and between models scored with the same seed) are paired.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd


def _take(a: Any, idx: np.ndarray) -> Any:
    if a is None:
        return None
    if isinstance(a, pd.DataFrame):
        return a.iloc[idx].reset_index(drop=True)
    return np.asarray(a)[idx]


def bootstrap_indices(n: int, n_boot: int, seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    """``(n_boot, n)`` resampled row indices; stratified by ``strata`` when given
    (each class keeps its count, so rare positives are never resampled away)."""
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n, size=(n_boot, n))
    out = np.empty((n_boot, n), dtype=np.int64)
    pos = 0
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        out[:, pos:pos + len(members)] = members[rng.integers(0, len(members), size=(n_boot, len(members)))]
        pos += len(members)
    return out


def bootstrap_ci(fns: dict[str, Callable[..., float]], y_true, scores, meta=None, *, n_boot: int = 500,
                 level: float = 0.95, seed: int = 42, strata: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """Point estimate and percentile CI of every metric in ``fns`` (NaN replicates ignored)."""
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    out = {name: {"value": fn(y_true, scores, meta)} for name, fn in fns.items()}
    if n_boot <= 0 or len(y_true) < 2:
        for v in out.values():
            v["ci95"] = [None, None]
        return out
    reps = {name: np.empty(n_boot) for name in fns}
    for b, idx in enumerate(bootstrap_indices(len(y_true), n_boot, seed, strata)):
        yb, sb, mb = y_true[idx], scores[idx], _take(meta, idx)
        for name, fn in fns.items():
            reps[name][b] = fn(yb, sb, mb)
    alpha = (1 - level) / 2
    for name, r in reps.items():
        r = r[np.isfinite(r)]
        out[name]["ci95"] = [float(np.quantile(r, alpha)), float(np.quantile(r, 1 - alpha))] if len(r) else [None, None]
    return out
