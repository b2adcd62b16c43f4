"""The vertical contract and the registry that finds verticals through entry points.

Built-in and third-party verticals are found the same way: each installs an entry
point in the group ``verticalkit.verticals`` that points at a :class:`Vertical`
object (``verticalkit.verticals.fraud:VERTICAL``).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .data.adapter import DatasetAdapter, DatasetSplits
from .errors import ConfigError
from .heads.base import Head

ENTRY_POINT_GROUP = "verticalkit.verticals"

# A vertical metric: ``fn(y_true, scores, meta) -> float``; ``meta`` is the split's
# per-sample DataFrame (or None). The evaluator bootstraps it like the core metrics.
MetricFn = Callable[[np.ndarray, np.ndarray, "pd.DataFrame | None"], float]


class LazyModels(Mapping):
    """``Vertical.models`` where a head class may be given as ``"package.module:Class"``: imported on
    first use. A torch head's module imports torch (~0.5 GB of memory, seconds); a run of a
    scikit-learn head never needs it. Listing names and ``in`` import nothing."""

    def __init__(self, models: dict[str, Any]):
        self._models = dict(models)

    def __getitem__(self, name: str) -> type[Head]:
        head = self._models[name]
        if isinstance(head, str):
            module, _, attr = head.partition(":")
            head = self._models[name] = getattr(importlib.import_module(module), attr)
        return head

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        return f"LazyModels({list(self._models)})"


@dataclass
class Vertical:
    """One vertical: its datasets, heads, metrics, defaults and reference results.

    datasets: dataset id → adapter class. models: head name → head class (or a
    :class:`LazyModels`, whose classes may be imported on first use).
    metrics: extra metrics beyond the core ones for the task kind (name → MetricFn).
    primary_metric: the default primary metric (an adapter's Task may override it).
    default_configs: model name → partial config (e.g. ``{"train": {"epochs": 3}}``).
    check_configs: model name → partial config (same shape) that only
    :func:`verticalkit.core.tools.testing.check_vertical` applies, on top of ``default_configs``:
    cheap settings for heads too slow to train twice on CPU (a tiny encoder, short
    sequences, one epoch), so every registered head stays in the conformance check.
    tiny_data: ``tiny_data(seed) -> DatasetSplits``, small offline data for
    :func:`verticalkit.core.tools.testing.check_vertical` and tests.
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
    models: Mapping[str, type[Head]]
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
    # Serving hooks (core/serve/app.py), all optional:
    # serve_example: one example input record (OpenAPI docs, load benchmark);
    # request_to_input: ``fn(records: list[dict]) -> X`` turning /v1/predict records into the
    # head's input (raise DataError naming the field on bad input); default: the saved table schema;
    # explain: ``fn(predictor, X) -> list[list]`` reason codes per row (e.g. top score contributions);
    # explains: ``fn(predictor) -> bool``, whether explain gives reason codes for this model
    # (/v1/predict computes them by default only then; ``?explain=true`` always); None: always.
    # The simple baseline beside every result (core/evaluate/baselines.py): a head of ``models`` trained with
    # ``baseline_params`` over its defaults; keep it plain and cheap (seconds). None: the prior only.
    baseline_model: str | None = None
    baseline_params: dict[str, Any] = field(default_factory=dict)
    serve_example: dict[str, Any] | None = None
    request_to_input: Callable[[list[dict[str, Any]]], Any] | None = None
    explain: Callable[..., list[Any]] | None = None
    explains: Callable[[Any], bool] | None = None
    # demo: the form of the demo page at ``/`` of ``verticalkit serve`` (core/serve/page.py):
    # "table" | "image" | "text" | "json"; None: "table" for table models, else "json".
    # demo_explain: the page asks /v1/predict for reason codes (``?explain=true``), e.g. an overlay.
    demo: str | None = None
    demo_explain: bool = False
    # Monitoring hook (core/serve/monitor.py), optional: ``fn(X, state) -> DataFrame`` of per-sample
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


_warned: set[tuple[str, ...]] = set()  # name clashes already reported in this process


class PluginWarning(UserWarning):
    """A plug-in vertical was skipped: it failed to load or reuses a registered name."""


def _package(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else f"the package providing {ep.value}"


def _entry_points() -> dict[str, metadata.EntryPoint]:
    """One entry point per vertical id. On a name clash the kit's own vertical (else the first
    found) is kept, and a warning names both packages."""
    found = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    found.sort(key=lambda ep: _package(ep) != "verticalkit")  # stable: built-ins first
    chosen: dict[str, metadata.EntryPoint] = {}
    for ep in found:
        first = chosen.setdefault(ep.name, ep)
        clash = (ep.name, _package(first), first.value, _package(ep), ep.value)
        if first is not ep and clash[1:3] != clash[3:] and clash not in _warned:
            _warned.add(clash)
            warnings.warn(f"plug-in vertical {ep.name!r} of {_package(ep)} ({ep.value}) is ignored: "
                          f"{_package(first)} already registers {ep.name!r} ({first.value}); "
                          f"rename it in the plug-in's entry points", PluginWarning, stacklevel=2)
    return chosen


def _load(ep: metadata.EntryPoint) -> Vertical:
    """Load one entry point; any failure becomes a ConfigError naming the package."""
    try:
        obj = ep.load()
    except Exception as e:  # noqa: BLE001 - a plug-in may fail in any way; the kit carries on
        raise ConfigError(f"plug-in vertical {ep.name!r} of {_package(ep)} ({ep.value}) failed to load: "
                          f"{type(e).__name__}: {e}; fix or uninstall that package") from e
    if not isinstance(obj, Vertical):
        raise ConfigError(f"entry point {ep.value!r} of {ep.name!r} is a {type(obj).__name__}, "
                          f"not a verticalkit Vertical; fix the plug-in's pyproject entry point")
    return obj


def list_verticals() -> list[str]:
    """Ids of every registered vertical, sorted."""
    return sorted(set(_entry_points()) | set(_extra))


def load_verticals() -> tuple[dict[str, Vertical], dict[str, str]]:
    """Every registered vertical that loads (id → Vertical, sorted) and the broken ones (id → error)."""
    loaded, broken = {}, {}
    for vid in list_verticals():
        try:
            loaded[vid] = get_vertical(vid)
        except ConfigError as e:
            broken[vid] = str(e)
    return loaded, broken


def get_vertical(vertical_id: str) -> Vertical:
    """Load the vertical registered under ``vertical_id``."""
    if vertical_id in _extra:
        return _extra[vertical_id]
    ep = _entry_points().get(vertical_id)
    if ep is not None:
        return _load(ep)
    raise ConfigError(f"unknown vertical {vertical_id!r}; registered: {', '.join(list_verticals()) or '(none)'}. "
                      f"A plug-in must be pip-installed to be found")
