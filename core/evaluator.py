"""The evaluator: metrics with bootstrap CIs, thresholds, calibration, subgroups, curves."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from .bootstrap import bootstrap_ci
from .calibration import reliability_bins
from .config import EvalConfig
from .data import Task
from .metrics import core_metrics
from .thresholds import confusion_at, expected_cost, select_thresholds

SUBGROUP_COLUMNS = ("sex", "age_band", "manufacturer", "prompt", "subgroup")


@dataclass
class EvalResult:
    """What :func:`evaluate` measured; :func:`metrics_json` and the report read it."""

    task: Task
    primary: str
    metrics: dict[str, dict[str, Any]]
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    threshold_source: str = ""
    calibration: dict[str, Any] = field(default_factory=dict)
    subgroups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    y_true: np.ndarray | None = None
    scores: np.ndarray | None = None


def _subsample(x: np.ndarray, y: np.ndarray, k: int = 400) -> tuple[list[float], list[float]]:
    if len(x) > k:
        idx = np.unique(np.linspace(0, len(x) - 1, k).astype(int))
        x, y = x[idx], y[idx]
    return x.tolist(), y.tolist()


def _binary_extras(result: EvalResult, y: np.ndarray, p: np.ndarray, config: EvalConfig,
                   val: tuple[np.ndarray, np.ndarray] | None) -> None:
    if val is not None and len(np.unique(val[0])) == 2:
        choose_y, choose_p, result.threshold_source = val[0], np.asarray(val[1]), "validation"
    else:
        choose_y, choose_p, result.threshold_source = y, p, "test (no validation split: optimistic)"
    chosen = select_thresholds(choose_y, choose_p, cost_fp=config.cost_fp, cost_fn=config.cost_fn,
                               target_sensitivity=config.target_sensitivity, alert_budget=config.alert_budget)
    for method, thr in chosen.items():
        if thr is None or (isinstance(thr, float) and math.isnan(thr)):
            continue
        row = confusion_at(y, p, thr)
        row["expected_cost"] = expected_cost(y, p, thr, config.cost_fp, config.cost_fn)
        result.thresholds[method] = row
    result.calibration = {"ece": result.metrics.get("ece", {}).get("value"),
                          "brier": result.metrics.get("brier", {}).get("value"),
                          "reliability": reliability_bins(y, p, config.ece_bins)}
    if len(np.unique(y)) == 2:
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        result.curves["roc"] = _subsample(fpr, tpr)
        result.curves["pr"] = _subsample(rec[::-1], prec[::-1])
    thr = result.thresholds.get("cost", result.thresholds.get("default_0.5"))
    result.curves["confusion"] = {"threshold": thr["threshold"],
                                  "matrix": [[thr["tn"], thr["fp"]], [thr["fn"], thr["tp"]]]}


def _subgroups(task: Task, y: np.ndarray, scores: np.ndarray, meta: pd.DataFrame | None, primary: str,
               fns: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    if meta is None:
        return out
    for col in (c for c in SUBGROUP_COLUMNS if c in meta.columns):
        rows = []
        values = meta[col].astype(str).to_numpy()
        for value in sorted(set(values)):
            idx = np.flatnonzero(values == value)
            sub_meta = meta.iloc[idx].reset_index(drop=True)
            rows.append({"group": value, "n": int(len(idx)),
                         primary: fns[primary](y[idx], scores[idx], sub_meta) if primary in fns else None})
        out[col] = rows
    return out


def evaluate(task: Task, y_true, scores, meta: pd.DataFrame | None = None, extra_metrics: dict | None = None,
             config: EvalConfig | None = None, seed: int = 42,
             val: tuple[np.ndarray, np.ndarray] | None = None) -> EvalResult:
    """Evaluate ``scores`` against ``y_true``: every metric of the task with a paired bootstrap CI.

    Binary tasks also get thresholds (chosen on ``val`` when given), calibration and curves.
    """
    config = config or EvalConfig()
    y, s = np.asarray(y_true), np.asarray(scores)
    fns = {**core_metrics(task), **(extra_metrics or {})}
    primary = task.primary_metric
    strata = y if (task.kind in ("binary", "multiclass") and y.ndim == 1) else None
    metrics = bootstrap_ci(fns, y, s, meta, n_boot=config.n_bootstrap, level=config.ci_level, seed=seed,
                           strata=strata)
    result = EvalResult(task=task, primary=primary, metrics=metrics, y_true=y, scores=s)
    if task.kind == "binary":
        _binary_extras(result, y, s, config, val)
    elif task.kind == "multiclass":
        labels = np.arange(s.shape[1])
        result.curves["confusion"] = {"threshold": None,
                                      "matrix": confusion_matrix(y, s.argmax(1), labels=labels).tolist()}
    result.subgroups = _subgroups(task, y, s, meta, primary, fns)
    return result


def _clean(x: Any) -> Any:
    """Strict JSON: NaN / inf → None, numpy scalars → Python."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def metrics_json(result: EvalResult, *, vertical: str, dataset: str, model: str, split: str, n: int, seed: int,
                 train_seconds: float | None, versions: dict[str, str]) -> dict[str, Any]:
    """The ``metrics.json`` document of DESIGN.md (plus thresholds, calibration, subgroups)."""
    doc = {
        "vertical": vertical, "dataset": dataset, "model": model, "split": split, "n": int(n), "seed": int(seed),
        "metrics": {k: {"value": v["value"], "ci95": v["ci95"]} for k, v in result.metrics.items()},
        "primary": result.primary, "train_seconds": train_seconds, "versions": versions,
    }
    if result.thresholds:
        doc["thresholds"] = {"chosen_on": result.threshold_source, **result.thresholds}
    if result.calibration:
        doc["calibration"] = {k: v for k, v in result.calibration.items() if k != "reliability"}
    if result.subgroups:
        doc["subgroups"] = result.subgroups
    return _clean(doc)
