"""The vertical contract and the registry that finds verticals through entry points.

Built-in and third-party verticals are found the same way: each installs an entry
point in the group ``verticalkit.verticals`` that points at a :class:`Vertical`
object (``verticalkit.verticals.fraud:VERTICAL``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .data import DatasetAdapter, DatasetSplits
from .errors import ConfigError
from .heads import Head

ENTRY_POINT_GROUP = "verticalkit.verticals"

# A vertical metric: ``fn(y_true, scores, meta) -> float``; ``meta`` is the split's
# per-sample DataFrame (or None). The evaluator bootstraps it like the core metrics.
MetricFn = Callable[[np.ndarray, np.ndarray, "pd.DataFrame | None"], float]


@dataclass
class Vertical:
    """One vertical: its datasets, heads, metrics, defaults and reference results.

    datasets: dataset id → adapter class. models: head name → head class.
    metrics: extra metrics beyond the core ones for the task kind (name → MetricFn).
    primary_metric: the default primary metric (an adapter's Task may override it).
    default_configs: model name → partial config (e.g. ``{"train": {"epochs": 3}}``).
    check_configs: model name → partial config (same shape) that only
    :func:`verticalkit.core.testing.check_vertical` applies, on top of ``default_configs``:
    cheap settings for heads too slow to train twice on CPU (a tiny encoder, short
    sequences, one epoch), so every registered head stays in the conformance check.
    tiny_data: ``tiny_data(seed) -> DatasetSplits``, small offline data for
    :func:`verticalkit.core.testing.check_vertical` and tests.
    report_sections: optional ``fn(predictor, splits, scores, run_dir) -> list[(title, html)]``
    adding vertical-specific sections to report.html.
    read_input: optional ``fn(path, chunk_rows, info) -> iterator of (X, ids)`` for batch
    prediction inputs that are not CSV / parquet tables (image folders, DICOM); ``info`` is
    the saved predictor's dataset info, so inputs are read as the training data was.
    intended_use: the model card's intended-use paragraph; clinical: the model card
    adds the CLAIM / TRIPOD+AI items and the "not for clinical use" statement.
    """

    id: str
    description: str
    datasets: dict[str, type[DatasetAdapter]]
    models: dict[str, type[Head]]
    primary_metric: str
    default_dataset: str
    default_model: str
    reference_results: Path
    tiny_data: Callable[[int], DatasetSplits]
    metrics: dict[str, MetricFn] = field(default_factory=dict)
    default_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    check_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    report_sections: Callable[..., list[tuple[str, str]]] | None = None
    read_input: Callable[..., Any] | None = None
    intended_use: str | None = None
    clinical: bool = False
    # Serving hooks (core/serve.py), all optional:
    # serve_example: one example input record (OpenAPI docs, load benchmark);
    # request_to_input: ``fn(records: list[dict]) -> X`` turning /v1/predict records into the
    # head's input (raise DataError naming the field on bad input); default: the saved table schema;
    # explain: ``fn(predictor, X) -> list[list]`` reason codes per row (e.g. top score contributions);
    # explains: ``fn(predictor) -> bool``, whether explain gives reason codes for this model
    # (/v1/predict computes them by default only then; ``?explain=true`` always); None: always.
    serve_example: dict[str, Any] | None = None
    request_to_input: Callable[[list[dict[str, Any]]], Any] | None = None
    explain: Callable[..., list[Any]] | None = None
    explains: Callable[[Any], bool] | None = None
    # Monitoring hook (core/monitor.py), optional: ``fn(X, state) -> DataFrame`` of per-sample
    # "monitor features" whose drift ``verticalkit monitor`` measures (essays: length, vocabulary,
    # readability; images: intensity, size). ``state`` is a JSON-able dict, empty at training time,
    # where the hook may keep what later calls need (a reference vocabulary); None: a table's columns.
    monitor_features: Callable[[Any, dict[str, Any]], pd.DataFrame] | None = None

    def dataset(self, dataset_id: str) -> type[DatasetAdapter]:
        if dataset_id not in self.datasets:
            raise ConfigError(f"vertical {self.id!r} has no dataset {dataset_id!r}; "
                              f"choose one of: {', '.join(self.datasets)}")
        return self.datasets[dataset_id]

    def model(self, name: str) -> type[Head]:
        if name not in self.models:
            raise ConfigError(f"vertical {self.id!r} has no model {name!r}; choose one of: {', '.join(self.models)}")
        return self.models[name]


_extra: dict[str, Vertical] = {}


def register(vertical: Vertical) -> Vertical:
    """Register a vertical in this process (tests, notebooks); plug-ins use the entry point."""
    _extra[vertical.id] = vertical
    return vertical


def unregister(vertical_id: str) -> None:
    _extra.pop(vertical_id, None)


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def list_verticals() -> list[str]:
    """Ids of every registered vertical, sorted."""
    return sorted({ep.name for ep in _entry_points()} | set(_extra))


def get_vertical(vertical_id: str) -> Vertical:
    """Load the vertical registered under ``vertical_id``."""
    if vertical_id in _extra:
        return _extra[vertical_id]
    for ep in _entry_points():
        if ep.name == vertical_id:
            obj = ep.load()
            if not isinstance(obj, Vertical):
                raise ConfigError(f"entry point {ep.value!r} of {vertical_id!r} is a {type(obj).__name__}, "
                                  f"not a verticalkit Vertical; fix the plug-in's pyproject entry point")
            return obj
    raise ConfigError(f"unknown vertical {vertical_id!r}; registered: {', '.join(list_verticals()) or '(none)'}. "
                      f"A plug-in must be pip-installed to be found")
