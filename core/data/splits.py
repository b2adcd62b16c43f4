"""Split helpers: seeded stratified, grouped (a group never on both sides), temporal.

Each returns index arrays ``(train_idx, val_idx, test_idx)`` into the rows given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

Indices = tuple[np.ndarray, np.ndarray, np.ndarray]


def _can_stratify(y: np.ndarray | None, n_parts: int) -> bool:
    if y is None or np.asarray(y).ndim != 1:
        return False
    _, counts = np.unique(y, return_counts=True)
    return len(counts) > 1 and counts.min() >= n_parts


def stratified_split(n: int, y: np.ndarray | None, test_size: float = 0.2, val_size: float = 0.1,
                     seed: int = 42) -> Indices:
    """Seeded random split, stratified on ``y`` when every class has enough rows.

    ``val_size`` is a fraction of all rows, carved out of the train part.
    """
    idx = np.arange(n)
    strat = y if _can_stratify(y, 3) else None
    train_val, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strat)
    if val_size <= 0:
        return np.sort(train_val), np.array([], dtype=int), np.sort(test)
    strat_tv = y[train_val] if strat is not None else None
    train, val = train_test_split(train_val, test_size=val_size / (1 - test_size), random_state=seed,
                                  stratify=strat_tv)
    return np.sort(train), np.sort(val), np.sort(test)


def grouped_split(groups: np.ndarray, y: np.ndarray | None = None, test_size: float = 0.2,
                  val_size: float = 0.1, seed: int = 42) -> Indices:
    """Split so that every group (patient, customer) lands on exactly one side.

    Stratified on ``y`` where the class counts allow it (StratifiedGroupKFold),
    otherwise a seeded GroupShuffleSplit.
    """
    groups = np.asarray(groups)
    idx = np.arange(len(groups))

    def cut(sub: np.ndarray, frac: float) -> tuple[np.ndarray, np.ndarray]:
        g = groups[sub]
        n_groups = len(np.unique(g))
        k = max(2, int(round(1 / frac)))
        if y is not None and _can_stratify(y[sub], k) and n_groups >= k:
            sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            keep, out = next(sgkf.split(sub, y[sub], g))
        else:
            gss = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
            keep, out = next(gss.split(sub, groups=g))
        return sub[keep], sub[out]

    train_val, test = cut(idx, test_size)
    if val_size <= 0:
        return np.sort(train_val), np.array([], dtype=int), np.sort(test)
    train, val = cut(train_val, val_size / (1 - test_size))
    return np.sort(train), np.sort(val), np.sort(test)


def temporal_split(times: np.ndarray, test_size: float = 0.2, val_size: float = 0.1) -> Indices:
    """The earliest rows train, the next validate, the latest test (ties keep row order)."""
    order = np.argsort(np.asarray(times), kind="stable")
    n = len(order)
    n_test = int(round(n * test_size))
    n_val = int(round(n * val_size))
    train = order[: n - n_test - n_val]
    val = order[n - n_test - n_val : n - n_test]
    test = order[n - n_test :]
    return np.sort(train), np.sort(val), np.sort(test)


def sample_rows(X: Any, limit: int, seed: int = 0) -> Any:
    """At most ``limit`` rows of ``X`` (a DataFrame, an array or a list): all of them when there
    are no more, else a seeded random sample kept in row order."""
    n = len(X)
    if n <= limit:
        return X
    idx = np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    if isinstance(X, np.ndarray):
        return X[idx]
    return [X[i] for i in idx]
