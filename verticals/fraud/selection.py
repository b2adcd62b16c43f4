"""Model choice for a temporal split without reading its test period.

Forward-chaining CV inside the training period: the training rows (train + validation
of the temporal split, never its test rows) are sorted by time and cut into
``n_blocks`` equal blocks; fold k fits on blocks ``< k`` and scores block ``k``. Every
candidate head is scored on the same validation blocks; the one with the best mean
AUPRC over the blocks is picked. Used by ``benchmarks/fraud_temporal_selection.py`` (a
search space fixed in code, the test period read once, by the pick) and
``benchmarks/fraud_quality.py --select-temporal`` (the earlier, staged search).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from verticalkit.core.data.adapter import DatasetSplits, Task
from verticalkit.core.errors import ConfigError

# fit(X_train, y_train, n_val, X_score) -> {candidate name: scores on X_score}. The fold's
# training rows are sorted by time; a head with early stopping fits on all but the last
# ``n_val`` of them and validates on those (as the temporal split carves its validation
# part); a head without one fits on all of them.
Fitter = Callable[[pd.DataFrame, np.ndarray, int, pd.DataFrame], dict[str, np.ndarray]]


def training_period(splits: DatasetSplits) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The rows a temporal split trains on (its train and validation parts), sorted by time:
    ``(X, y, times)``. The test part is not touched."""
    if "time" not in splits.train.meta:
        raise ConfigError(f"{splits.dataset}: the split has no 'time' in meta; forward-chaining CV needs the "
                          f"temporal protocol (data.protocol=temporal)")
    X = pd.concat([splits.train.X, splits.val.X], ignore_index=True)
    y = np.concatenate([splits.train.y, splits.val.y])
    t = np.concatenate([splits.train.meta["time"].to_numpy(), splits.val.meta["time"].to_numpy()])
    order = np.argsort(t, kind="stable")
    return X.iloc[order].reset_index(drop=True), y[order], t[order]


def forward_chaining_folds(n_rows: int, n_blocks: int = 5, first: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds over rows already sorted by time: ``n_blocks`` equal blocks; fold k trains on the
    blocks before k and validates on block k, for k = ``first`` .. ``n_blocks - 1``."""
    if not 1 <= first < n_blocks:
        raise ConfigError(f"forward chaining: first={first} must be in [1, n_blocks={n_blocks})")
    blocks = np.array_split(np.arange(n_rows), n_blocks)
    return [(np.concatenate(blocks[:k]), blocks[k]) for k in range(first, n_blocks)]


def run_config_fitter(cfg: Any, task: Task, name: str | None = None) -> Fitter:
    """A :data:`Fitter` that fits the head of a resolved run config (``verticalkit train``'s
    :func:`~verticalkit.core.train.run.build_config`) as ``verticalkit train`` would on a temporal
    split: same head parameters, seed and Trainer settings, the fold's latest ``n_val`` rows as
    the validation part, or none when ``data.val_size`` is 0 (every row trains). Its one
    candidate is ``name`` (default: the config's model)."""
    from verticalkit.core.heads.base import FitContext
    from verticalkit.core.registry import get_vertical
    from verticalkit.core.train.run import make_head, score_fn_for, seed_everything

    vertical = get_vertical(cfg.vertical)
    use_val = float(cfg.data.get("val_size", 0.1)) > 0

    def fit(X: pd.DataFrame, y: np.ndarray, n_val: int, X_score: pd.DataFrame) -> dict[str, np.ndarray]:
        seed_everything(cfg.seed)
        head = make_head(cfg, vertical)
        n = len(y) - (n_val if use_val else 0)
        context = FitContext(task=task, seed=cfg.seed, train=cfg.train, score_fn=score_fn_for(task, vertical))
        if n < len(y):
            head.fit(X.iloc[:n], y[:n], X.iloc[n:], y[n:], context=context)
        else:
            head.fit(X, y, context=context)
        return {name or cfg.model: head.predict_proba(X_score)[:, 1]}

    return fit


def compare_heads(X: pd.DataFrame, y: np.ndarray, fitters: dict[str, Fitter], *, n_blocks: int = 5,
                  first: int = 2, inner_val: float = 0.125, averages: Sequence[tuple[str, str]] = (),
                  log: Callable[[str], None] | None = print) -> list[dict[str, Any]]:
    """Score every fitter's candidates on the same forward-chaining validation blocks.

    ``X``, ``y``: the training period only, sorted by time (:func:`training_period`).
    ``fitters``: name → fit function (see :data:`Fitter`); one fit may give several
    candidates (a blend and its parts). ``inner_val``: the share of a fold's training rows
    (the latest) that early-stopping heads validate on (0.125: the temporal split's 10% of
    all rows out of its 80%). ``averages``: pairs of candidates whose probability
    average is also scored. Returns one row per candidate, best mean AUPRC first, with
    per-block AUPRC and the seconds of the fit that produced it.
    """
    from sklearn.metrics import average_precision_score

    folds = forward_chaining_folds(len(y), n_blocks, first)
    scores: dict[str, list[np.ndarray]] = {}
    seconds: dict[str, float] = {}
    for name, fit in fitters.items():
        t0 = time.perf_counter()
        for tr, va in folds:
            out = fit(X.iloc[tr], y[tr], int(round(len(tr) * inner_val)), X.iloc[va])
            for cand, s in out.items():
                scores.setdefault(cand, []).append(np.asarray(s, dtype=float))
        spent = time.perf_counter() - t0
        for cand in out:
            seconds[cand] = spent
        if log:
            log(f"{name}: {round(spent)} s, candidates {list(out)}")
    for a, b in averages:
        if a in scores and b in scores:
            scores[f"{a}+{b} (probability average)"] = [(p + q) / 2 for p, q in zip(scores[a], scores[b])]
            seconds[f"{a}+{b} (probability average)"] = seconds[a] + seconds[b]
    rows = []
    for cand, per_fold in scores.items():
        ap = [float(average_precision_score(y[va], s)) for (_, va), s in zip(folds, per_fold)]
        rows.append({"candidate": cand, "cv_auprc": round(float(np.mean(ap)), 4),
                     "per_block": str([round(v, 4) for v in ap]), "seconds": round(seconds[cand])})
    rows.sort(key=lambda r: -r["cv_auprc"])
    return rows
