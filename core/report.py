"""report.html: one self-contained page (plots as embedded PNG) that opens offline."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from .data import Task
from .evaluator import EvalResult
from .io import atomic_write_text

CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.primary{font-weight:bold;background:#eef6ee}
.plots img{width:420px;margin:4px;border:1px solid #eee}.muted{color:#777;font-size:90%}"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    return html.escape(str(v))


def _table(rows: list[dict[str, Any]], columns: list[str], highlight: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cls = ' class="primary"' if highlight is not None and r.get(columns[0]) == highlight else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in columns) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _plots(result: EvalResult, task: Task) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imgs = []
    c = result.curves
    if "roc" in c:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(*c["roc"]), ax.plot([0, 1], [0, 1], "--", color="grey")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
        imgs.append(_png(fig))
    if "pr" in c:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(*c["pr"])
        ax.set(xlabel="recall", ylabel="precision", title="Precision–recall", ylim=(0, 1.02))
        imgs.append(_png(fig))
    rel = result.calibration.get("reliability")
    if rel:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        mp, ob = np.asarray(rel["mean_predicted"], float), np.asarray(rel["observed"], float)
        ok = np.isfinite(mp) & np.isfinite(ob)
        ax.plot(mp[ok], ob[ok], "o-"), ax.plot([0, 1], [0, 1], "--", color="grey")
        ax.set(xlabel="mean predicted probability", ylabel="observed frequency", title="Calibration")
        imgs.append(_png(fig))
    if "confusion" in c:
        m = np.asarray(c["confusion"]["matrix"])
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(m, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center")
        labels = task.classes if len(task.classes) == len(m) else list(range(len(m)))
        ax.set(xticks=range(len(m)), yticks=range(len(m)), xticklabels=labels, yticklabels=labels,
               xlabel="predicted", ylabel="true", title="Confusion matrix")
        imgs.append(_png(fig))
    y, s = result.y_true, result.scores
    if y is not None and s is not None and y.ndim == 1:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        if task.kind == "binary":
            for cls in (0, 1):
                ax.hist(s[y == cls], bins=40, alpha=0.6, density=True, label=f"true {task.classes[cls] if task.classes else cls}")
            ax.set(xlabel="score", title="Score distribution by class"), ax.legend()
        elif task.kind == "multiclass":
            ax.hist(s.max(axis=1), bins=40)
            ax.set(xlabel="top-class probability", title="Confidence")
        else:
            ax.scatter(y, s, s=6, alpha=0.4)
            ax.set(xlabel="true", ylabel="predicted", title="Predicted vs true")
        imgs.append(_png(fig))
    return imgs


def write_report(path: str | Path, result: EvalResult, *, title: str, task: Task, info: dict[str, Any],
                 extra_sections: list[tuple[str, str]] | tuple = ()) -> Path:
    """Write report.html; ``extra_sections`` are ``(title, html)`` pairs appended after the core ones."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts.append("<p class='muted'>" + " · ".join(f"{html.escape(str(k))}: {html.escape(str(v))}"
                                                  for k, v in info.items()) + "</p>")
    rows = [{"metric": k, "value": v["value"], "ci95 low": (v.get("ci95") or [None, None])[0],
             "ci95 high": (v.get("ci95") or [None, None])[1]} for k, v in result.metrics.items()]
    parts.append(f"<h2>Metrics (primary: {html.escape(result.primary)})</h2>")
    parts.append(_table(rows, ["metric", "value", "ci95 low", "ci95 high"], highlight=result.primary))
    parts.append("<div class='plots'>" + "".join(_plots(result, task)) + "</div>")
    if result.thresholds:
        parts.append(f"<h2>Decision thresholds</h2><p class='muted'>chosen on {html.escape(result.threshold_source)}; "
                     f"rates measured on this split</p>")
        rows = [{"method": k, **v} for k, v in result.thresholds.items()]
        parts.append(_table(rows, ["method", "threshold", "sensitivity", "specificity", "ppv", "npv", "flagged",
                                   "expected_cost"]))
    for col, rows in result.subgroups.items():
        parts.append(f"<h2>Subgroups by {html.escape(col)}</h2>")
        parts.append(_table(rows, ["group", "n", result.primary]))
    for sec_title, sec_html in extra_sections:
        parts.append(f"<h2>{html.escape(sec_title)}</h2>{sec_html}")
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts))
    return Path(path)
