"""The evaluator: metrics with paired bootstrap CIs, thresholds, calibration, subgroups, curves."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from .bootstrap import bootstrap_ci
from .calibration import expected_calibration_error, reliability_bins, temperature_summary
from ..config import EvalConfig
from ..data.adapter import Task
from ..errors import ConfigError, DataError
from .metrics import task_metrics
from .operating_points import operating_points
from .thresholds import confusion_at, expected_cost, select_thresholds

# meta columns tabulated by default when present (evaluate(subgroup_columns=...) overrides)
SUBGROUP_COLUMNS = ("sex", "age_band", "manufacturer", "site", "prompt", "subgroup")
MAX_GROUPS = 50  # a column with more distinct values is not tabulated
SUBGROUP_BOOTSTRAP = 200  # replicates for the primary metric's CI inside each subgroup
CURVE_POINTS = 400

SUBGROUP_METRICS = {"binary": ("roc_auc", "auprc", "brier"), "multiclass": ("roc_auc", "accuracy"),
                    "multilabel": ("roc_auc", "auprc"), "ordinal": ("qwk", "mae"), "regression": ("mae", "rmse"),
                    "multioutput": ("mcrmse",)}


@dataclass
class EvalResult:
    """What :func:`evaluate` measured; :func:`metrics_json` and the report read it.

    metrics: {name: {"value", "ci95": [lo, hi]}}; thresholds: {method: rates at it} (binary);
    calibration: {"ece", "brier", "reliability": bins}; subgroups: {column: [row per group]};
    curves: {"roc"/"pr": [x, y] (binary) or {class: [x, y]}, "confusion": {...}}.
    """

    task: Task
    primary: str
    metrics: dict[str, dict[str, Any]]
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    threshold_source: str = ""
    calibration: dict[str, Any] = field(default_factory=dict)
    subgroups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    bootstrap: dict[str, Any] = field(default_factory=dict)
    operating_points: dict[str, Any] = field(default_factory=dict)  # binary: core/evaluate/operating_points.py
    baselines: dict[str, Any] = field(default_factory=dict)  # filled by core/evaluate/baselines.py (the run pipeline)
    y_true: np.ndarray | None = None
    scores: np.ndarray | None = None


def _subsample(x: np.ndarray, y: np.ndarray, k: int = CURVE_POINTS) -> list[list[float]]:
    if len(x) > k:
        idx = np.unique(np.linspace(0, len(x) - 1, k).astype(int))
        x, y = x[idx], y[idx]
    return [np.asarray(x, float).tolist(), np.asarray(y, float).tolist()]


def _roc_pr(y: np.ndarray, p: np.ndarray) -> tuple[list, list] | None:
    if len(np.unique(y)) < 2:
        return None
    fpr, tpr, _ = roc_curve(y, p)
    prec, rec, _ = precision_recall_curve(y, p)
    return _subsample(fpr, tpr), _subsample(rec[::-1], prec[::-1])


def _check_inputs(task: Task, y: np.ndarray, s: np.ndarray, meta: pd.DataFrame | None, what: str = "") -> None:
    """Fail with a DataError naming the problem instead of a numpy/sklearn traceback."""
    where = f" ({what})" if what else ""
    if len(y) != len(s):
        raise DataError(f"evaluate{where}: y_true has {len(y)} rows but scores has {len(s)}; pass scores for the "
                        f"same rows as the targets")
    if len(y) == 0:
        raise DataError(f"evaluate{where}: no rows to evaluate; check the split is not empty")
    k = len(task.classes)
    if task.kind == "binary" and s.ndim != 1:
        raise DataError(f"evaluate{where}: binary scores must be P(class 1) with shape (n,), got {s.shape}; "
                        f"use Predictor.predict_score")
    if task.kind in ("multiclass", "multilabel") and (s.ndim != 2 or (k and s.shape[1] != k)):
        raise DataError(f"evaluate{where}: {task.kind} scores must have shape (n, {k or 'k'}) (one column per "
                        f"class in task.classes), got {s.shape}")
    if task.kind == "multilabel" and y.shape != s.shape:
        raise DataError(f"evaluate{where}: multilabel y_true must be an (n, k) 0/1 matrix like scores {s.shape}, "
                        f"got {y.shape}")
    if task.kind == "multioutput" and (s.ndim != 2 or y.shape != s.shape or (k and s.shape[1] != k)):
        raise DataError(f"evaluate{where}: multioutput y_true and scores must both have shape (n, {k or 'k'}) (one "
                        f"column per output in task.classes), got {y.shape} and {s.shape}")
    if task.kind in ("ordinal", "regression") and s.ndim != 1:
        raise DataError(f"evaluate{where}: {task.kind} scores must be predicted values of shape (n,), got {s.shape}")
    bad = ~np.isfinite(s.astype(float))
    if task.kind == "multioutput":  # a missing target (NaN) may have a missing score
        bad &= np.isfinite(y.astype(float))
    if bad.any():
        raise DataError(f"evaluate{where}: scores contain NaN or inf in {int(np.sum(bad))} "
                        f"entries; fix the model outputs before evaluating")
    if meta is not None and len(meta) != len(y):
        raise DataError(f"evaluate{where}: meta has {len(meta)} rows but y_true has {len(y)}")


def _binary_extras(result: EvalResult, y: np.ndarray, p: np.ndarray, config: EvalConfig,
                   val: tuple[Any, Any] | None) -> float:
    """Thresholds, calibration and curves; returns the chosen (cost) threshold."""
    if val is not None and len(np.unique(np.asarray(val[0]))) == 2:
        choose_y, choose_p, result.threshold_source = np.asarray(val[0]), np.asarray(val[1]), "validation"
    else:
        choose_y, choose_p = y, p
        result.threshold_source = "test (no validation scores given: thresholds are optimistic)"
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
                          "n_bins": config.ece_bins, "reliability": reliability_bins(y, p, config.ece_bins)}
    curves = _roc_pr(y, p)
    if curves:
        result.curves["roc"], result.curves["pr"] = curves
    chosen_row = result.thresholds.get("cost", result.thresholds["default_0.5"])
    method = "cost" if "cost" in result.thresholds else "default_0.5"
    result.curves["confusion"] = {"threshold": chosen_row["threshold"], "method": method,
                                  "labels": ["0", "1"],
                                  "matrix": [[chosen_row["tn"], chosen_row["fp"]],
                                             [chosen_row["fn"], chosen_row["tp"]]]}
    return float(chosen_row["threshold"])


def _class_extras(result: EvalResult, task: Task, y: np.ndarray, s: np.ndarray, config: EvalConfig) -> None:
    names = list(task.classes) or [str(j) for j in range(s.shape[1])]
    Y = np.eye(s.shape[1], dtype=int)[y.astype(int)] if task.kind == "multiclass" else y.astype(int)
    roc, pr = {}, {}
    for j, name in enumerate(names):
        curves = _roc_pr(Y[:, j], s[:, j])
        if curves:
            roc[name], pr[name] = curves
    result.curves["roc"], result.curves["pr"] = roc, pr
    if task.kind == "multiclass":
        pred = s.argmax(1)
        result.curves["confusion"] = {"threshold": None, "method": "argmax", "labels": names,
                                      "matrix": confusion_matrix(y, pred, labels=np.arange(s.shape[1])).tolist()}
        correct, conf = (pred == y).astype(int), s.max(1)
        result.calibration = {"kind": "top-label (confidence of the argmax class)", "n_bins": config.ece_bins,
                              "ece": expected_calibration_error(correct, conf, config.ece_bins),
                              "reliability": reliability_bins(correct, conf, config.ece_bins)}
    else:
        result.calibration = {"kind": "all labels pooled", "n_bins": config.ece_bins,
                              "ece": expected_calibration_error(Y.ravel(), s.ravel(), config.ece_bins),
                              "reliability": reliability_bins(Y.ravel(), s.ravel(), config.ece_bins)}


def _subgroups(task: Task, y: np.ndarray, s: np.ndarray, meta: pd.DataFrame | None, primary: str,
               fns: dict[str, Any], columns: Sequence[str], config: EvalConfig, seed: int,
               threshold: float | None) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    if meta is None:
        return out
    names = [primary] + [m for m in SUBGROUP_METRICS.get(task.kind, ()) if m in fns and m != primary]
    for col in (c for c in columns if c in meta.columns):
        values = meta[col].astype(str).to_numpy()
        groups = sorted(set(values))
        if len(groups) > MAX_GROUPS:
            continue
        rows = []
        for value in groups:
            idx = np.flatnonzero(values == value)
            sub_meta = meta.iloc[idx].reset_index(drop=True)
            yi, si = y[idx], s[idx]
            row: dict[str, Any] = {"group": value, "n": int(len(idx))}
            if task.kind == "binary":
                row["n_pos"] = int(np.sum(yi == 1))
            strata = yi if task.kind in ("binary", "multiclass") else None
            n_boot = min(config.n_bootstrap, SUBGROUP_BOOTSTRAP)
            prim = bootstrap_ci({primary: fns[primary]}, yi, si, sub_meta, n=n_boot, level=config.ci_level,
                                seed=seed, strata=strata)[primary]
            row[primary], row[f"{primary}_ci95"] = prim["value"], prim["ci95"]
            for name in names[1:]:
                row[name] = fns[name](yi, si, sub_meta)
            if threshold is not None:
                c = confusion_at(yi, si, threshold)
                row["sensitivity@thr"], row["specificity@thr"] = c["sensitivity"], c["specificity"]
            rows.append(row)
        out[col] = rows
    return out


def evaluate(task: Task, y_true, scores, meta: pd.DataFrame | None = None, extra_metrics: dict | None = None,
             config: EvalConfig | None = None, seed: int = 42, val: tuple[Any, Any] | None = None,
             subgroup_columns: Sequence[str] | None = None) -> EvalResult:
    """Evaluate ``scores`` (canonical, as ``Predictor.predict_score``) against ``y_true``.

    Every core metric of the task and every ``extra_metrics`` entry (``fn(y, scores, meta)``)
    gets a percentile CI from one paired bootstrap (``config.n_bootstrap`` replicates,
    stratified by class for binary / multi-class; seeded by ``seed``). Binary tasks also get
    thresholds (chosen on ``val=(y_val, scores_val)`` when given, else on this split, flagged),
    calibration and curves; multi-class / multi-label get per-class curves and calibration.
    With ``val``, calibration also holds ECE and Brier before / after a temperature fitted on it.
    Subgroup tables cover the ``subgroup_columns`` of ``meta`` (default ``SUBGROUP_COLUMNS``).
    """
    config = config or EvalConfig()
    y, s = np.asarray(y_true), np.asarray(scores)
    _check_inputs(task, y, s, meta)
    fns = task_metrics(task, extra_metrics, ece_bins=config.ece_bins)
    primary = task.primary_metric
    if primary not in fns:
        raise ConfigError(f"primary metric {primary!r} is not computed for a {task.kind} task; "
                          f"valid: {', '.join(sorted(fns))}")
    strata = y if (task.kind in ("binary", "multiclass") and y.ndim == 1) else None
    metrics = bootstrap_ci(fns, y, s, meta, n=config.n_bootstrap, level=config.ci_level, seed=seed, strata=strata)
    result = EvalResult(task=task, primary=primary, metrics=metrics, y_true=y, scores=s,
                        bootstrap={"n": int(config.n_bootstrap), "level": config.ci_level, "seed": int(seed),
                                   "method": "percentile, paired" + (", stratified by class" if strata is not None
                                                                     else "")})
    threshold = None
    if task.kind == "binary":
        threshold = _binary_extras(result, y, s, config, val)
        result.operating_points = operating_points(y, s, result.thresholds, result.threshold_source, config, seed)
    elif task.kind in ("multiclass", "multilabel"):
        _class_extras(result, task, y, s, config)
    else:
        resid = s.astype(float) - y.astype(float)
        result.curves["residuals"] = {"mean": float(np.nanmean(resid)), "sd": float(np.nanstd(resid))}
    if val is not None and task.kind in ("binary", "multiclass", "multilabel"):  # temperature fitted on val
        result.calibration.update(temperature_summary(task.kind, y, s, val[0], val[1], config.ece_bins))
    columns = SUBGROUP_COLUMNS if subgroup_columns is None else tuple(subgroup_columns)
    result.subgroups = _subgroups(task, y, s, meta, primary, fns, columns, config, seed, threshold)
    return result


def _clean(x: Any) -> Any:
    """Strict JSON: NaN / inf → None, numpy scalars and arrays → Python."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def metrics_json(result: EvalResult, *, vertical: str, dataset: str, model: str, split: str, n: int, seed: int,
                 train_seconds: float | None, versions: dict[str, str]) -> dict[str, Any]:
    """The ``metrics.json`` document of docs/architecture.md, strict JSON (NaN → null).

    Extra keys: ``bootstrap`` (replicates, level, method), ``thresholds`` (binary, with
    ``chosen_on``), ``operating_points`` (binary: rates with CIs at the validation-chosen
    thresholds), ``baselines`` (when computed), ``calibration`` (without the bins), ``subgroups``.
    """
    doc = {
        "vertical": vertical, "dataset": dataset, "model": model, "split": split, "n": int(n), "seed": int(seed),
        "metrics": {k: {"value": v["value"], "ci95": v["ci95"]} for k, v in result.metrics.items()},
        "primary": result.primary, "train_seconds": train_seconds, "versions": versions,
    }
    if result.bootstrap:
        doc["bootstrap"] = result.bootstrap
    if result.thresholds:
        doc["thresholds"] = {"chosen_on": result.threshold_source, **result.thresholds}
    if result.operating_points:
        doc["operating_points"] = result.operating_points
    if result.baselines:
        doc["baselines"] = result.baselines
    if result.calibration:
        doc["calibration"] = {k: v for k, v in result.calibration.items() if k != "reliability"}
    if result.subgroups:
        doc["subgroups"] = result.subgroups
    return _clean(doc)
