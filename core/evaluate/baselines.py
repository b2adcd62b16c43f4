"""Baselines beside every result, on the same split: a trivial one and the vertical's simple one.

* ``prior``: a constant score: the training prevalence (binary), class / label frequencies
  (multi-class / multi-label), the training mean per output (ordinal, regression, multioutput);
* ``simple``: the head the vertical names in ``Vertical.baseline_model`` (with
  ``Vertical.baseline_params``), e.g. logistic regression on the raw columns, trained on the
  same training split with the run's seed. Skipped, with a note, when its design matrix would
  be larger than :data:`MAX_CELLS` (rows x :func:`encoded_width`: one-hot categories and
  missing indicators counted) so it stays a matter of seconds and of a few hundred MB.

Each baseline gets its primary metric (plus the task kind's usual pair) with a bootstrap CI,
and the model's *lift* over it: ``model - baseline`` on the primary metric, sign-flipped for
lower-is-better metrics so a positive lift always means the model is better, with the
percentile CI of the paired bootstrap (the same resampled rows score both; the evaluator's
seed and class strata). Off with ``eval.baselines=false``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .bootstrap import bootstrap_replicates, percentile_ci
from ..config import EvalConfig, TrainConfig
from ..data.adapter import DatasetSplits, Task
from .evaluator import SUBGROUP_METRICS
from ..heads.base import FitContext
from .metrics import higher_is_better, task_metrics

MAX_CELLS = 50_000_000  # train rows x encoded width above which the simple baseline is skipped
PRIOR_DESCRIPTION = {
    "binary": "constant score: the training prevalence",
    "multiclass": "constant scores: the training class frequencies",
    "multilabel": "constant scores: the training label frequencies",
}


def prior_scores(task: Task, y_train: np.ndarray, n: int) -> np.ndarray:
    """The trivial baseline's canonical scores for ``n`` rows (constant, from the training targets)."""
    y = np.asarray(y_train)
    if task.kind == "binary":
        return np.full(n, float(np.mean(y.astype(float))))
    if task.kind == "multiclass":
        k = len(task.classes) or int(y.max()) + 1
        freq = np.bincount(y.astype(int), minlength=k)[:k] / len(y)
        return np.tile(freq, (n, 1))
    if task.kind in ("multilabel", "multioutput"):
        y = y.astype(float)
        with np.errstate(all="ignore"):
            col = np.array([np.nanmean(c) if np.isfinite(c).any() else 0.0 for c in y.T])
        return np.tile(col, (n, 1))
    return np.full(n, float(np.mean(y.astype(float))))


def _width(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 1:
        return int(np.prod(shape[1:]))
    return 1


def encoded_width(X: Any, max_categories: int | None = None) -> int:
    """The width of a linear baseline's design matrix for ``X``: a numeric column counts 1 (2 with
    empty cells: its missing indicator), a text / category column its distinct values (nulls
    included; at most ``max_categories``, the head's cut); an array its flattened width."""
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        return _width(X)
    width = 0
    for c in X.columns:
        s = X[c]
        if pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s)
                                             and not isinstance(s.dtype, pd.CategoricalDtype)):
            width += 1 + int(s.isna().any())
        else:
            k = int(s.nunique(dropna=False))
            width += min(k, max_categories) if max_categories else k
    return width


def simple_baseline_scores(vertical: Any, splits: DatasetSplits, split: str, seed: int
                           ) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Train the vertical's ``baseline_model`` on ``splits.train`` and score ``split``.

    Returns ``(scores, info)``; scores is None (and ``info["skipped"]`` says why) when the
    vertical declares no baseline or the data is too large for a cheap one.
    """
    from ..heads.predictor import Predictor

    name = vertical.baseline_model
    info: dict[str, Any] = {"model": name, "params": dict(vertical.baseline_params)}
    train = splits.train
    width = encoded_width(train.X, getattr(vertical.model(name), "max_categories", None))
    if len(train) * width > MAX_CELLS:
        info["skipped"] = (f"training data too large for a quick baseline ({len(train):,} rows x {width:,} encoded "
                           f"columns > {MAX_CELLS:,} cells)")
        return None, info
    params = vertical.model(name).default_params()
    params.update(vertical.baseline_params)
    if "random_state" in params and params["random_state"] is None:
        params["random_state"] = seed
    head = vertical.model(name)(**params)
    context = FitContext(task=splits.task, seed=seed, train=TrainConfig(progress=False))
    has_val = len(splits.val) > 0
    t0 = time.perf_counter()
    head.fit(train.X, train.y, splits.val.X if has_val else None, splits.val.y if has_val else None, context=context)
    info["fit_seconds"] = round(time.perf_counter() - t0, 3)
    predictor = Predictor(head, vertical=vertical.id, model=name, dataset=splits.dataset, task=splits.task)
    return predictor.predict_score(splits.split(split).X), info


def compare(task: Task, y_true, model_scores, baselines: dict[str, np.ndarray], meta=None,
            extra_metrics: dict | None = None, config: EvalConfig | None = None, seed: int = 42
            ) -> dict[str, dict[str, Any]]:
    """``{name: {"metrics": {m: {value, ci95}}, "lift": {...}, "lifts": {m: {value, ci95}}}}``.

    The lift of the model over each baseline, per metric, as ``model - baseline`` (negated for
    lower-is-better metrics: positive = the model is better) with a paired-bootstrap CI.
    """
    config = config or EvalConfig()
    y, s = np.asarray(y_true), np.asarray(model_scores)
    fns = task_metrics(task, extra_metrics, ece_bins=config.ece_bins)
    primary = task.primary_metric
    names = [primary] + [m for m in SUBGROUP_METRICS.get(task.kind, ()) if m in fns and m != primary]
    fns = {m: fns[m] for m in names}
    strata = y if (task.kind in ("binary", "multiclass") and y.ndim == 1) else None
    n_boot = config.n_bootstrap if len(y) >= 2 else 0

    def replicates(scores: np.ndarray) -> dict[str, np.ndarray]:
        return bootstrap_replicates(fns, y, scores, meta, n_boot=n_boot, seed=seed, strata=strata)

    model_value = {m: float(fn(y, s, meta)) for m, fn in fns.items()}
    model_reps = replicates(s)
    out = {}
    for name, b in baselines.items():
        b = np.asarray(b)
        reps = replicates(b)
        metrics, lifts = {}, {}
        for m, fn in fns.items():
            value = float(fn(y, b, meta))
            sign = 1.0 if higher_is_better(m) else -1.0
            metrics[m] = {"value": value, "ci95": percentile_ci(reps[m], config.ci_level)}
            lifts[m] = {"value": sign * (model_value[m] - value),
                        "ci95": percentile_ci(sign * (model_reps[m] - reps[m]), config.ci_level)}
        out[name] = {"metrics": metrics, "lift": {"metric": primary, **lifts[primary]}, "lifts": lifts}
    return out


def run_baselines(vertical: Any, splits: DatasetSplits, split: str, config: EvalConfig, seed: int,
                  model_scores: np.ndarray, model: str | None = None,
                  model_params: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Both baselines for one evaluated split, ready for metrics.json's ``baselines`` key.

    When the run's ``model`` / ``model_params`` are the simple baseline's own, its scores are
    reused (lift 0) instead of training the same head again.
    """
    task, part = splits.task, splits.split(split)
    entries: dict[str, dict[str, Any]] = {
        "prior": {"kind": "trivial", "description": PRIOR_DESCRIPTION.get(task.kind, "constant score: the training "
                                                                          "mean of each output")}}
    scores = {"prior": prior_scores(task, splits.train.y, len(part))}
    if vertical.baseline_model:
        defaults = vertical.model(vertical.baseline_model).default_params()
        same = model == vertical.baseline_model and dict(model_params or {}) == {**defaults,
                                                                                 **vertical.baseline_params}
        if same:
            simple, info = np.asarray(model_scores), {"model": model, "params": dict(vertical.baseline_params),
                                                      "note": "the run's model is the simple baseline"}
        else:
            try:
                simple, info = simple_baseline_scores(vertical, splits, split, seed)
            except Exception as e:  # noqa: BLE001 - an auxiliary baseline never costs the run its evaluation
                simple, info = None, {"model": vertical.baseline_model, "params": dict(vertical.baseline_params),
                                      "skipped": f"the baseline failed: {type(e).__name__}: {str(e)[:200]}"}
        entries["simple"] = {"kind": "simple", "description": describe(info), **info}
        if simple is not None:
            scores["simple"] = simple
    compared = compare(task, part.y, model_scores, scores, meta=part.meta, extra_metrics=vertical.metrics,
                       config=config, seed=seed)
    for name, doc in compared.items():
        entries[name].update(doc)
    return entries


def describe(info: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in info.get("params", {}).items())
    return f"the {info['model']} head" + (f" ({params})" if params else "") + " on the same training split"


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """Console lines: each baseline's primary metric and the model's lift over it."""
    lines = []
    for name, b in (doc.get("baselines") or {}).items():
        label = name if name == "prior" else f"{name} ({b.get('model')})"
        if "skipped" in b:
            lines.append(f"  baseline {label}: skipped, {b['skipped']}")
            continue
        lift = b.get("lift") or {}
        metric = lift.get("metric", "")
        value = (b.get("metrics", {}).get(metric) or {}).get("value")
        if value is None or lift.get("value") is None:
            continue
        ci = lift.get("ci95") or [None, None]
        ci_txt = f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if None not in ci else ""
        lines.append(f"  baseline {label:<20} {metric} {value:.4f}   model lift {lift['value']:+.4f}{ci_txt}")
    return lines
