"""Operating points of a binary model with bootstrap CIs of the rates at each.

The thresholds are the evaluator's, chosen on validation (core/evaluate/thresholds.py): Youden's J and
the highest threshold reaching ``eval.target_sensitivity``, beside the fixed 0.5. At each,
sensitivity, specificity, PPV and accuracy on the evaluated split get a percentile CI from
the evaluator's paired, class-stratified bootstrap (same seed): the threshold is held fixed,
the test rows are resampled.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .bootstrap import bootstrap_ci
from ..config import EvalConfig

METHODS = ("default_0.5", "youden", "target_sensitivity")
RATES = ("sensitivity", "specificity", "ppv", "accuracy")


def _counts(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """0/1 indicator vectors of TP, FP, FN, TN; a (B, n) weight matrix times one gives counts."""
    flag, pos = np.asarray(p) >= threshold, np.asarray(y).astype(int) == 1
    return {"tp": flag & pos, "fp": flag & ~pos, "fn": ~flag & pos, "tn": ~flag & ~pos}


def _ratio(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


RATE_FORMULAS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "sensitivity": lambda c: _ratio(c["tp"], c["tp"] + c["fn"]),
    "specificity": lambda c: _ratio(c["tn"], c["tn"] + c["fp"]),
    "ppv": lambda c: _ratio(c["tp"], c["tp"] + c["fp"]),
    "accuracy": lambda c: _ratio(c["tp"] + c["tn"], c["tp"] + c["tn"] + c["fp"] + c["fn"]),
}


def rate_at(name: str, threshold: float) -> Callable[..., float]:
    """``fn(y, p, meta=None)``: one rate when flagging ``p >= threshold``, with a weighted ``.batch``."""
    formula = RATE_FORMULAS[name]

    def fn(y, p, meta=None) -> float:
        c = {k: float(v.sum()) for k, v in _counts(y, p, threshold).items()}
        return float(formula(c))

    def batch(y, p, meta, W) -> np.ndarray:
        c = {k: W @ v.astype(float) for k, v in _counts(y, p, threshold).items()}
        return np.asarray(formula(c), dtype=float)

    fn.batch = batch  # type: ignore[attr-defined]
    return fn


def operating_points(y_true, p, thresholds: dict[str, dict[str, Any]], chosen_on: str,
                     config: EvalConfig | None = None, seed: int = 42) -> dict[str, Any]:
    """``{"chosen_on", method: {"threshold", rate: {"value", "ci95"}, ...}}`` for :data:`METHODS`.

    ``thresholds`` is ``EvalResult.thresholds`` (method → row with ``"threshold"``); methods
    missing there (undefined on one-class validation data) are left out.
    """
    config = config or EvalConfig()
    y, p = np.asarray(y_true).astype(int), np.asarray(p, dtype=float)
    out: dict[str, Any] = {"chosen_on": chosen_on}
    for method in METHODS:
        row = thresholds.get(method)
        if row is None or not np.isfinite(row.get("threshold", np.nan)):
            continue
        t = float(row["threshold"])
        fns = {name: rate_at(name, t) for name in RATES}
        cis = bootstrap_ci(fns, y, p, n=config.n_bootstrap, level=config.ci_level, seed=seed, strata=y)
        point: dict[str, Any] = {"threshold": t}
        if method == "target_sensitivity":
            point["target"] = config.target_sensitivity
        point.update({name: {"value": v["value"], "ci95": v["ci95"]} for name, v in cis.items()})
        point["flagged"] = int(np.sum(p >= t))
        out[method] = point
    return out


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """Console lines: one per operating point, its threshold and rates with CIs."""
    ops = doc.get("operating_points") or {}
    lines = []
    for method in METHODS:
        point = ops.get(method)
        if not point:
            continue
        label = f"{method} {point['target']:g}" if "target" in point else method
        parts = []
        for name in RATES:
            r = point.get(name) or {}
            if r.get("value") is None:
                continue
            ci = r.get("ci95") or [None, None]
            parts.append(f"{name} {r['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if None not in ci else ""))
        lines.append(f"  at {label} (thr {point['threshold']:.4g}): " + ", ".join(parts))
    if lines:
        lines.insert(0, f"  operating points (thresholds chosen on {ops.get('chosen_on', '?')}):")
    return lines
