"""model_card.md: Hugging Face model-card metadata plus the sections of Mitchell et al. (2019)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..data.adapter import Task
from ..io import atomic_write_text

CLASSIFICATION = ("binary", "multiclass", "multilabel")


def input_modality(input_schema: dict[str, Any] | None) -> str:
    """``image`` (an array of 2-D images), ``text`` (a table with a string ``text`` column, the kit's
    text convention) or ``tabular``, from a predictor's saved input schema."""
    schema = input_schema or {}
    if schema.get("type") == "array" and len(schema.get("shape") or []) >= 3:
        return "image"
    columns = schema.get("columns") or {}
    if schema.get("type") == "table" and str(columns.get("text", "")).lower() in ("str", "string", "object"):
        return "text"
    return "tabular"


def hf_task(kind: str, modality: str) -> str:
    """The Hugging Face task type of a task kind on an input modality (HF has no text or image
    regression type: text and image scores are filed under their classification type)."""
    if modality in ("text", "image"):
        return f"{modality}-classification"
    return "tabular-classification" if kind in CLASSIFICATION else "tabular-regression"


def _metric_lines(metrics_json: dict[str, Any]) -> list[str]:
    lines = ["| metric | value | 95% CI |", "|---|---|---|"]
    for name, m in metrics_json["metrics"].items():
        v, ci = m.get("value"), m.get("ci95") or [None, None]
        val = "–" if v is None else f"{v:.4f}"
        ci_txt = "–" if None in ci else f"[{ci[0]:.4f}, {ci[1]:.4f}]"
        star = " (primary)" if name == metrics_json.get("primary") else ""
        lines.append(f"| {name}{star} | {val} | {ci_txt} |")
    return lines


def write_model_card(path: str | Path, *, vertical: str, dataset: str, model: str, task: Task,
                     metrics_json: dict[str, Any], config: dict[str, Any], info: dict[str, Any],
                     intended_use: str | None = None, clinical: bool = False,
                     input_schema: dict[str, Any] | None = None) -> Path:
    """Write model_card.md atomically: HF model-card YAML front matter (``model-index`` with
    every finite metric and its CI) and the sections of Mitchell et al.; ``clinical=True``
    adds the CLAIM / TRIPOD+AI items filled from ``info`` and a "Not for clinical use"
    statement unless ``info["clinical_statement"]`` says otherwise. ``info["hf_task"]``
    overrides the Hugging Face task type read from the task kind and the input modality
    (``input_schema``, the predictor's; see :func:`input_modality`)."""
    modality = input_modality(input_schema)
    task_type = info.get("hf_task") or hf_task(task.kind, modality)
    results = [{"task": {"type": task_type, "name": f"{task.kind} ({task.target})"},
                "dataset": {"name": dataset, "type": dataset, "split": metrics_json["split"]},
                "metrics": [{"type": k, "name": k, "value": m["value"], "ci95": m.get("ci95")}
                            for k, m in metrics_json["metrics"].items() if m.get("value") is not None]}]
    front = {"library_name": "verticalkit", "tags": ["verticalkit", vertical, model, modality],
             "model-index": [{"name": f"{vertical}-{dataset}-{model}", "results": results}]}
    use = intended_use or (f"Prototype {vertical} model for {task.target} ({task.kind}) on data like {dataset}. "
                           f"For evaluation and prototyping by ML engineers, not for automated decisions "
                           f"about people without human review.")
    n_train, n_val = info.get("n_train", "?"), info.get("n_val", "?")
    lines = ["---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
             f"# Model card: {vertical} / {dataset} / {model}", "",
             "## Model details", "",
             f"- Vertical: `{vertical}`; head: `{model}`; task: {task.kind} ({task.target}); "
             f"classes: {task.classes or '–'}",
             f"- Trained by verticalkit {metrics_json.get('versions', {}).get('verticalkit', '?')}, "
             f"seed {metrics_json['seed']}, "
             f"in {metrics_json.get('train_seconds')} s",
             f"- Parameters: `{config.get('model_params', {})}`", "",
             "## Intended use", "", use, "",
             "## Factors", "",
             "Performance can differ across subgroups and over time (data drift). "
             + (f"Subgroup tables (in metrics.json and report.html): {', '.join(metrics_json['subgroups'])}."
                if metrics_json.get("subgroups") else "This evaluation had no subgroup columns in its data."), "",
             "## Metrics", "",
             f"Split `{metrics_json['split']}` (n = {metrics_json['n']}); 95% CIs by seeded paired bootstrap.", "",
             *_metric_lines(metrics_json), "",
             "## Training and evaluation data", "",
             f"Dataset `{dataset}`, protocol `{info.get('protocol', '?')}`: {n_train} training, {n_val} validation, "
             f"{metrics_json['n']} `{metrics_json['split']}` samples evaluated."
             + (f" Source: {info['source']}." if info.get("source") else ""), "",
             "## Ethical considerations", "",
             "Predictions affect people (customers, patients, students). Review errors by subgroup before use, keep a "
             "human in the loop, and do not use the model outside the population it was trained on.", "",
             "## Caveats and recommendations", "",
             "Figures are measured on one split of one dataset; re-measure on your own data before relying on "
             "them.", ""]
    if clinical:
        statement = info.get("clinical_statement") or "**Not for clinical use.** Research prototype only."
        lines += ["## Clinical reporting items (CLAIM / TRIPOD+AI)", "", statement, "",
                  f"- Data source: {info.get('source', dataset)}",
                  f"- Preprocessing: {info.get('preprocessing', 'as recorded in config.yaml')}",
                  f"- De-identification: {info.get('deidentification', 'not applied by this run')}",
                  f"- Splits: {info.get('protocol', '?')} ({n_train}/{n_val}/{metrics_json['n']})",
                  f"- Calibration: {_calibration_line(metrics_json.get('calibration', {}))}",
                  f"- Subgroups: {', '.join(metrics_json.get('subgroups', {})) or 'none in the data'}", ""]
    atomic_write_text(path, "\n".join(lines))
    return Path(path)


def _calibration_line(cal: dict[str, Any]) -> str:
    """ECE and Brier, and what a temperature fitted on validation makes of them when one was."""
    line = f"ECE {_fmt(cal.get('ece'))}, Brier {_fmt(cal.get('brier'))}"
    if "temperature" in cal:
        line += (f"; temperature {_fmt(cal['temperature'])} fitted on {cal.get('temperature_fitted_on', 'validation')}"
                 f" gives ECE {_fmt(cal.get('ece_after_temperature'))}, Brier {_fmt(cal.get('brier_after_temperature'))}"
                 " (the saved model's probabilities are not rescaled)")
    return line


def _fmt(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, (int, float)) else "–"
