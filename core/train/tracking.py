"""Experiment tracking: a finished run logged to MLflow (``pip install 'verticalkit[mlflow]'``).

Tracking is on when ``MLFLOW_TRACKING_URI`` is set or ``track="mlflow"`` is passed
(``verticalkit train --track mlflow``); otherwise nothing here is imported or run. One
MLflow run per training run: it is opened before fitting, so the Trainer's epoch metrics
(``callbacks.MLflowLogger``) land in it, and closed after the run directory is complete
with the resolved config as parameters, every test metric with its CI, the report, model
card and metrics.json as artefacts, and the saved Predictor as a registered pyfunc model
named ``<vertical>-<model>``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConfigError

TRACKERS = ("mlflow", "none")
ARTEFACTS = ("config.yaml", "metrics.json", "report.html", "model_card.md")


def tracking_on(track: str | None) -> bool:
    """``track`` wins; ``None`` means: on when ``MLFLOW_TRACKING_URI`` is set."""
    if track is not None and track not in TRACKERS:
        raise ConfigError(f"--track must be one of {', '.join(TRACKERS)}, got {track!r}")
    return track == "mlflow" or (track is None and bool(os.environ.get("MLFLOW_TRACKING_URI")))


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-3}}`` → ``{"train.lr": 1e-3}``; lists and None as text."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
    return out


def metric_values(metrics_json: dict[str, Any]) -> dict[str, float]:
    """Each metric of metrics.json as ``name``, ``name_ci_low``, ``name_ci_high`` (finite values only)."""
    out: dict[str, float] = {}
    for name, m in metrics_json.get("metrics", {}).items():
        for key, value in ((name, m.get("value")), (f"{name}_ci_low", (m.get("ci95") or [None, None])[0]),
                           (f"{name}_ci_high", (m.get("ci95") or [None, None])[1])):
            if isinstance(value, (int, float)) and value == value and abs(value) != float("inf"):
                out[key] = float(value)
    return out


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError as e:
        raise ConfigError("tracking needs mlflow: pip install 'verticalkit[mlflow]', "
                          "or unset MLFLOW_TRACKING_URI / drop --track") from e
    return mlflow


@contextmanager
def tracked(run_name: str, track: str | None) -> Iterator[Any]:
    """An open MLflow run around a training run (``None`` when tracking is off)."""
    if not tracking_on(track) or int(os.environ.get("RANK", "0")) != 0:  # DDP: the main process logs
        yield None
        return
    mlflow = _mlflow()
    with mlflow.start_run(run_name=run_name) as active:
        yield active


def log_run(run_dir: str | Path) -> Any:
    """Log a complete run directory to the active MLflow run; returns the model's ModelInfo."""
    from .mlflow_pyfunc import log_predictor
    from ..config import load_yaml

    mlflow = _mlflow()
    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = load_yaml(run_dir / "config.yaml")
    params = flatten(config)
    # MLflow caps a parameter value at 6000 characters and a batch at 100 parameters
    items = [(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        mlflow.log_params(dict(items[i:i + 100]))
    mlflow.log_metrics(metric_values(metrics))
    mlflow.set_tags({"verticalkit.vertical": metrics.get("vertical", ""), "verticalkit.dataset": metrics.get("dataset", ""),
                     "verticalkit.model": metrics.get("model", ""), "verticalkit.primary": metrics.get("primary", ""),
                     "verticalkit.run_dir": str(run_dir.resolve())})
    for name in ARTEFACTS:
        if (run_dir / name).is_file():
            mlflow.log_artifact(str(run_dir / name))
    return log_predictor(run_dir, registered_model_name=f"{metrics.get('vertical')}-{metrics.get('model')}")
