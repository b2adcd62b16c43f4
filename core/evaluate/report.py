"""report.html: one self-contained page (plots as embedded PNG, inline CSS) that opens offline."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.adapter import Task
from .evaluator import EvalResult
from ..io import atomic_write_text

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;max-width:1150px;
color:#222}table{border-collapse:collapse;margin:0.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.primary{font-weight:bold;background:#eef6ee}
figure{display:inline-block;margin:4px;vertical-align:top}figure img{width:400px;border:1px solid #eee}
figcaption{font-size:85%;color:#555;text-align:center}.muted{color:#777;font-size:90%}"""

HEADER_KEYS = ("vertical", "dataset", "model", "split", "n", "seed", "protocol", "n_train", "n_val")
MAX_SERIES = 12  # per-class curves drawn at most


def _figure(fig, caption: str) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    cap = html.escape(caption)
    return f'<figure><img alt="{cap}" src="data:image/png;base64,{data}"><figcaption>{cap}</figcaption></figure>'


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:.4f}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return html.escape(str(v))


def _table(rows: list[dict[str, Any]], columns: Sequence[str], highlight: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for r in rows:
        cls = ' class="primary"' if highlight is not None and r.get(columns[0]) == highlight else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _class_names(task: Task, k: int) -> list[str]:
    return [str(c) for c in task.classes] if len(task.classes) == k else [str(j) for j in range(k)]


def _curve_plot(plt, curve: Any, kind: str) -> str | None:
    """ROC or PR: one line (binary) or one line per class (dict)."""
    if not curve:
        return None
    fig, ax = plt.subplots(figsize=(4.6, 4))
    series = curve.items() if isinstance(curve, dict) else [("", curve)]
    for i, (name, (x, y)) in enumerate(series):
        if i >= MAX_SERIES:
            break
        ax.plot(x, y, label=str(name) or None, lw=1.2)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    else:
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
    if isinstance(curve, dict):
        ax.legend(fontsize=7)
    return _figure(fig, "ROC curve" if kind == "roc" else "Precision-recall curve")


def _plots(result: EvalResult, task: Task) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imgs: list[str | None] = []
    c = result.curves
    imgs.append(_curve_plot(plt, c.get("roc"), "roc"))
    imgs.append(_curve_plot(plt, c.get("pr"), "pr"))
    rel = result.calibration.get("reliability")
    if rel:
        fig, ax = plt.subplots(figsize=(4.6, 4))
        mp, ob = np.asarray(rel["mean_predicted"], float), np.asarray(rel["observed"], float)
        ok = np.isfinite(mp) & np.isfinite(ob)
        ax.plot(mp[ok], ob[ok], "o-"), ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
        ece = result.calibration.get("ece")
        ax.set(xlabel="mean predicted probability", ylabel="observed frequency",
               title=f"Reliability (ECE {ece:.4f})" if ece is not None and np.isfinite(ece) else "Reliability",
               xlim=(0, 1), ylim=(0, 1))
        imgs.append(_figure(fig, f"Reliability diagram ({result.calibration.get('kind', 'P(class 1)')})"))
    if "confusion" in c:
        conf = c["confusion"]
        m = np.asarray(conf["matrix"])
        fig, ax = plt.subplots(figsize=(4.6, 4))
        ax.imshow(m, cmap="Blues")
        if len(m) <= 15:
            for (i, j), v in np.ndenumerate(m):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                        color="white" if v > m.max() / 2 else "black")
        labels = _class_names(task, len(m))
        ax.set(xticks=range(len(m)), yticks=range(len(m)), xlabel="predicted", ylabel="true")
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7), ax.set_yticklabels(labels, fontsize=7)
        at = "argmax" if conf.get("threshold") is None else f"threshold {conf['threshold']:.4g} ({conf.get('method')})"
        ax.set_title(f"Confusion matrix at {at}", fontsize=9)
        imgs.append(_figure(fig, "Confusion matrix"))
    imgs += _distribution_plots(plt, result, task)
    return [i for i in imgs if i]


def _distribution_plots(plt, result: EvalResult, task: Task) -> list[str]:
    y, s = result.y_true, result.scores
    if y is None or s is None:
        return []
    out = []
    if task.kind == "binary":
        fig, ax = plt.subplots(figsize=(4.6, 4))
        names = _class_names(task, 2)
        for cls in (0, 1):
            if np.any(y == cls):
                ax.hist(s[y == cls], bins=40, range=(0, 1), alpha=0.6, density=True, label=f"true {names[cls]}")
        ax.set(xlabel="P(class 1)", ylabel="density", title="Scores by true class"), ax.legend(fontsize=8)
        out.append(_figure(fig, "Score histograms by class"))
    elif task.kind == "multiclass":
        fig, ax = plt.subplots(figsize=(4.6, 4))
        names = _class_names(task, s.shape[1])
        p_true = s[np.arange(len(y)), y.astype(int)]
        for j in range(min(s.shape[1], MAX_SERIES)):
            if np.any(y == j):
                ax.hist(p_true[y == j], bins=30, range=(0, 1), histtype="step", density=True, label=names[j])
        ax.set(xlabel="probability given to the true class", ylabel="density", title="Scores by true class")
        ax.legend(fontsize=7)
        out.append(_figure(fig, "Score histograms by class"))
    elif task.kind in ("ordinal", "regression"):
        yt, pred = y.astype(float), s.astype(float)
        fig, ax = plt.subplots(figsize=(4.6, 4))
        ax.scatter(yt, pred, s=5, alpha=0.35)
        lo, hi = float(min(yt.min(), pred.min())), float(max(yt.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "--", color="grey", lw=0.8)
        ax.set(xlabel="true", ylabel="predicted", title="Predicted vs true")
        out.append(_figure(fig, "Predicted vs true"))
        fig, ax = plt.subplots(figsize=(4.6, 4))
        ax.scatter(pred, pred - yt, s=5, alpha=0.35), ax.axhline(0, color="grey", ls="--", lw=0.8)
        ax.set(xlabel="predicted", ylabel="residual (predicted - true)", title="Residuals")
        out.append(_figure(fig, "Residuals vs predicted"))
        fig, ax = plt.subplots(figsize=(4.6, 4))
        ax.hist(pred - yt, bins=40)
        ax.set(xlabel="residual (predicted - true)", ylabel="count", title="Residual distribution")
        out.append(_figure(fig, "Residual histogram"))
    return out


def _ci(v: dict[str, Any] | None) -> list[Any]:
    return (v or {}).get("ci95") or [None, None]


def _baselines_section(result: EvalResult) -> str:
    """The model beside the prior and the simple baseline, with its lift (paired bootstrap CI)."""
    primary = result.primary
    others = list(dict.fromkeys(m for b in result.baselines.values() for m in b.get("metrics", {}) if m != primary))
    model_row: dict[str, Any] = {"baseline": "this model", "description": "", primary: result.metrics[primary]["value"],
                                 f"{primary} ci": _ci(result.metrics[primary])}
    model_row.update({m: result.metrics.get(m, {}).get("value") for m in others})
    rows = [model_row]
    for name, b in result.baselines.items():
        m = b.get("metrics", {})
        row = {"baseline": name, "description": b.get("skipped") and f"skipped: {b['skipped']}" or b.get("description"),
               primary: (m.get(primary) or {}).get("value"), f"{primary} ci": _ci(m.get(primary)),
               "model lift": (b.get("lift") or {}).get("value"), "lift ci": _ci(b.get("lift"))}
        row.update({k: (m.get(k) or {}).get("value") for k in others})
        rows.append(row)
    cols = ["baseline", "description", primary, f"{primary} ci", "model lift", "lift ci", *others]
    return ("<h2>Baselines</h2><p class='muted'>Same split. Lift: the model minus the baseline on "
            f"{html.escape(primary)} (sign flipped where lower is better: positive = the model is better), "
            "CI from the paired bootstrap (the same resampled rows score both).</p>" + _table(rows, cols))


def _operating_points_section(ops: dict[str, Any]) -> str:
    rows = []
    for method, point in ops.items():
        if not isinstance(point, dict):
            continue
        row: dict[str, Any] = {"operating point": method, "threshold": point.get("threshold")}
        for rate in ("sensitivity", "specificity", "ppv", "accuracy"):
            row[rate], row[f"{rate} ci"] = (point.get(rate) or {}).get("value"), _ci(point.get(rate))
        rows.append(row)
    cols = ["operating point", "threshold"] + [c for r in ("sensitivity", "specificity", "ppv", "accuracy")
                                               for c in (r, f"{r} ci")]
    return (f"<h2>Operating points</h2><p class='muted'>thresholds chosen on {html.escape(str(ops.get('chosen_on')))}; "
            "rates on this split with bootstrap CIs</p>" + _table(rows, cols))


def write_report(path: str | Path, result: EvalResult, *, title: str, task: Task, info: dict[str, Any],
                 extra_sections: Sequence[tuple[str, str]] = ()) -> Path:
    """Write report.html atomically and return its path.

    Order: header (vertical, dataset, model, split, n, ...), metrics with CIs, plots,
    thresholds, calibration, subgroups, then ``extra_sections`` (``(title, html)`` pairs;
    the html is the vertical's and is inserted as given, every other text is escaped).
    """
    esc = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"]
    head = [{"field": k, "value": info[k]} for k in HEADER_KEYS if k in info]
    head += [{"field": k, "value": v} for k, v in info.items()
             if k not in HEADER_KEYS and isinstance(v, (str, int, float, bool))]
    parts.append(_table(head, ["field", "value"]))
    level = result.bootstrap.get("level", 0.95)
    rows = [{"metric": k, "value": v["value"], "ci low": (v.get("ci95") or [None, None])[0],
             "ci high": (v.get("ci95") or [None, None])[1]} for k, v in result.metrics.items()]
    parts.append(f"<h2>Metrics (primary: {esc(result.primary)})</h2>")
    parts.append(_table(rows, ["metric", "value", "ci low", "ci high"], highlight=result.primary))
    if result.bootstrap:
        parts.append(f"<p class='muted'>{level:.0%} CIs: {esc(str(result.bootstrap.get('n')))} bootstrap replicates "
                     f"({esc(str(result.bootstrap.get('method')))}), seed {esc(str(result.bootstrap.get('seed')))}."
                     "</p>")
    if result.baselines:
        parts.append(_baselines_section(result))
    parts.append("<h2>Plots</h2><div class='plots'>" + "".join(_plots(result, task)) + "</div>")
    if result.thresholds:
        parts.append(f"<h2>Decision thresholds</h2><p class='muted'>chosen on {esc(result.threshold_source)}; "
                     f"rates measured on this split</p>")
        rows = [{"method": k, **v} for k, v in result.thresholds.items()]
        parts.append(_table(rows, ["method", "threshold", "sensitivity", "specificity", "precision", "npv", "flagged",
                                   "tp", "fp", "fn", "tn", "expected_cost"]))
    if result.operating_points:
        parts.append(_operating_points_section(result.operating_points))
    if result.calibration:
        cal = {k: v for k, v in result.calibration.items() if k != "reliability"}
        parts.append("<h2>Calibration</h2>" + _table([{"field": k, "value": v} for k, v in cal.items()],
                                                      ["field", "value"]))
    for col, rows in result.subgroups.items():
        parts.append(f"<h2>Subgroups by {esc(col)}</h2>")
        columns = list(dict.fromkeys(k for r in rows for k in r))
        parts.append(_table(rows, columns))
    for sec_title, sec_html in extra_sections:
        parts.append(f"<h2>{esc(sec_title)}</h2>{sec_html}")
    parts.append("<p class='muted'>Written by verticalkit; self-contained, opens offline.</p></body></html>")
    atomic_write_text(path, "\n".join(parts))
    return Path(path)
