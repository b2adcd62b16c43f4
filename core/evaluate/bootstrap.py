"""Seeded, paired bootstrap confidence intervals (percentile method).

Paired: replicate ``b`` draws one index set and every metric is computed on it, so
differences between metrics (and between models scored with the same seed on the
same rows) are paired. Metrics that carry ``fn.batch(y, scores, meta, weights)``
(every core metric) are computed for a chunk of replicates at once from the
replicates' multiplicity weights (``np.bincount`` of the same index sets); other
metrics (vertical ones) are called once per replicate on ``y[idx]``, ``scores[idx]``
and ``meta.iloc[idx]``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from .metrics import _CACHE, clear_caches

CHUNK_ELEMENTS = 2_000_000  # replicates per chunk x rows: bounds the memory of the weight matrix


def _take(a: Any, idx: np.ndarray) -> Any:
    if a is None:
        return None
    if isinstance(a, pd.DataFrame):
        return a.iloc[idx].reset_index(drop=True)
    return np.asarray(a)[idx]


def iter_bootstrap_indices(n: int, n_boot: int, seed: int, strata: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Yield ``n_boot`` resampled row-index arrays (length ``n``), one per replicate.

    With ``strata`` each stratum (class) is resampled within itself, keeping its count,
    so rare positives are never resampled away. Same seed, same sequence.
    """
    rng = np.random.default_rng(seed)
    groups = None if strata is None else [np.flatnonzero(strata == v) for v in np.unique(strata)]
    for _ in range(n_boot):
        if groups is None:
            yield rng.integers(0, n, size=n)
        else:
            yield np.concatenate([g[rng.integers(0, len(g), size=len(g))] for g in groups])


def bootstrap_indices(n: int, n_boot: int, seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    """``(n_boot, n)`` resampled row indices (the same sequence :func:`bootstrap_ci` uses)."""
    return np.array(list(iter_bootstrap_indices(n, n_boot, seed, strata)), dtype=np.int64).reshape(n_boot, n)


def bootstrap_replicates(fns: dict[str, Callable[..., float]], y_true, scores, meta=None, *, n_boot: int = 500,
                         seed: int = 42, strata: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``{name: (n_boot,) array}``: every metric on every (shared) resample; NaN where undefined."""
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    n = len(y_true)
    reps = {name: np.full(n_boot, np.nan) for name in fns}
    batched = {k: f for k, f in fns.items() if hasattr(f, "batch")}
    looped = {k: f for k, f in fns.items() if k not in batched}
    width = scores.shape[1] if scores.ndim == 2 else 1  # per-class curves are kept per chunk
    chunk = max(1, min(n_boot, CHUNK_ELEMENTS // max(n * width, 1)))
    indices = iter_bootstrap_indices(n, n_boot, seed, strata)
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        W = np.empty((stop - start, n))
        for row in range(stop - start):
            idx = next(indices)
            W[row] = np.bincount(idx, minlength=n)
            for name, fn in looped.items():
                reps[name][start + row] = fn(y_true[idx], scores[idx], _take(meta, idx))
        for name, fn in batched.items():
            reps[name][start:stop] = fn.batch(y_true, scores, meta, W)
        _CACHE.clear()
    clear_caches()
    return reps


def bootstrap_ci(fns: dict[str, Callable[..., float]], y_true, scores, meta=None, n: int | None = None,
                 level: float = 0.95, seed: int = 42, *, n_boot: int | None = None,
                 strata: np.ndarray | None = None) -> dict[str, dict[str, Any]]:
    """Point estimate and percentile CI of every metric in ``fns``.

    ``n`` (alias ``n_boot``, default 500) replicates share their index sets across
    metrics (paired). NaN replicates are ignored; a CI is ``[None, None]`` when no
    replicate is finite or ``n`` is 0. The key stays ``"ci95"`` whatever ``level``.
    """
    n_rep = n if n is not None else (n_boot if n_boot is not None else 500)
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    out = {name: {"value": float(fn(y_true, scores, meta))} for name, fn in fns.items()}
    if n_rep <= 0 or len(y_true) < 2:
        for v in out.values():
            v["ci95"] = [None, None]
        return out
    reps = bootstrap_replicates(fns, y_true, scores, meta, n_boot=n_rep, seed=seed, strata=strata)
    for name, r in reps.items():
        out[name]["ci95"] = percentile_ci(r, level)
        out[name]["n_boot_valid"] = int(np.sum(np.isfinite(r)))
    return out


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> list[float | None]:
    """``[lo, hi]``: the percentile interval of the finite replicates; ``[None, None]`` when none is."""
    r = np.asarray(replicates, dtype=float)
    r = r[np.isfinite(r)]
    if not len(r):
        return [None, None]
    alpha = (1 - level) / 2
    return [float(np.quantile(r, alpha)), float(np.quantile(r, 1 - alpha))]
