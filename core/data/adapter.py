"""Data containers shared by every vertical, and the dataset adapter base class.

An adapter turns files on disk into a :class:`DatasetSplits`: three :class:`Split`
objects (train / val / test) and the :class:`Task` they describe. ``X`` is whatever
the vertical's heads consume (a DataFrame of tabular features, an ``(N, C, H, W)``
array of images, a DataFrame with a text column); ``y`` is always a numpy array.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

TaskKind = Literal["binary", "multiclass", "multilabel", "ordinal", "regression", "multioutput"]
TASK_KINDS: tuple[str, ...] = ("binary", "multiclass", "multilabel", "ordinal", "regression", "multioutput")


@dataclass
class Task:
    """What is predicted.

    kind: binary | multiclass | multilabel | ordinal | regression | multioutput.
    multioutput: several continuous targets per sample, ``y`` of shape ``(n, k)`` with NaN
    where a sample has no such target; scores ``(n, k)``, NaN allowed where the target is.
    classes: class names (for multilabel: label names; for multioutput: output names);
    empty for regression.
    primary_metric: the metric early stopping and model selection use (the one source of truth:
    ``Vertical.primary_metric`` is only the vertical's usual one, shown by ``verticalkit list``).
    score_range: (min, max) of the target for ordinal / regression tasks.
    ordered: multiclass only: the classes are grades in order (a graded scale: retinopathy
    grade 0-4); scores stay ``(n, k)`` probabilities and the metrics add QWK, MAE and
    exact / adjacent agreement of the predicted grade (the ``ordinal`` kind scores one value).
    discrete: the regression target is a rating on an integer scale within ``score_range``
    (essay scores): QWK on rounded predictions is reported. Ordinal tasks always are.
    """

    kind: TaskKind
    target: str
    primary_metric: str
    classes: list[str] = field(default_factory=list)
    score_range: tuple[float, float] | None = None
    ordered: bool = False
    discrete: bool = False

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"Task.kind must be one of {TASK_KINDS}, got {self.kind!r}")
        if self.ordered and self.kind != "multiclass":
            raise ValueError(f"Task.ordered applies to multiclass tasks (graded classes), not {self.kind!r}")

    @property
    def is_classification(self) -> bool:
        return self.kind in ("binary", "multiclass", "multilabel")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "primary_metric": self.primary_metric,
            "classes": list(self.classes),
            "score_range": list(self.score_range) if self.score_range is not None else None,
            "ordered": self.ordered,
            "discrete": self.discrete,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        sr = d.get("score_range")
        return cls(
            kind=d["kind"],
            target=d["target"],
            primary_metric=d["primary_metric"],
            classes=list(d.get("classes") or []),
            score_range=tuple(sr) if sr is not None else None,
            ordered=bool(d.get("ordered", False)),
            discrete=bool(d.get("discrete", False)),
        )


def _take(obj: Any, idx: np.ndarray) -> Any:
    if obj is None:
        return None
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj.iloc[idx].reset_index(drop=True)
    if isinstance(obj, np.ndarray):
        return obj[idx]
    return [obj[i] for i in idx]


@dataclass
class Split:
    """One side of a split.

    X: model inputs (DataFrame, ndarray or list), one row / item per sample.
    y: targets, shape (n,) or (n, k) for multi-label / multi-output.
    ids: unique sample identifiers (used in predictions.parquet).
    groups: patient / customer id per sample, when the data has one.
    meta: per-sample columns for subgroup tables and vertical metrics (e.g. prompt id, sex).
    """

    X: Any
    y: np.ndarray
    ids: np.ndarray
    groups: np.ndarray | None = None
    meta: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y)
        self.ids = np.asarray(self.ids)
        n = len(self.y)
        if len(self.X) != n or len(self.ids) != n:
            raise ValueError(f"Split sizes disagree: X={len(self.X)}, y={n}, ids={len(self.ids)}")
        if self.groups is not None:
            self.groups = np.asarray(self.groups)
        if self.meta is not None:
            self.meta = self.meta.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray | list[int]) -> Split:
        idx = np.asarray(idx)
        return Split(
            X=_take(self.X, idx),
            y=self.y[idx],
            ids=self.ids[idx],
            groups=None if self.groups is None else self.groups[idx],
            meta=_take(self.meta, idx),
        )


@dataclass
class DatasetSplits:
    """train / val / test splits of one dataset under one protocol."""

    dataset: str
    task: Task
    train: Split
    val: Split
    test: Split
    protocol: str
    info: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> Split:
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {name!r}")
        return getattr(self, name)


class DatasetAdapter:
    """Base class of dataset adapters (scikit-learn style: ``__init__`` stores params).

    Subclasses set ``id`` (the dataset id, also the folder name under
    ``$VERTICALKIT_DATA``), ``files`` (file names the adapter looks for, first
    match wins), optionally ``card`` (a card file name in ``datasets/``) and
    implement :meth:`load`. Every ``__init__`` parameter is a valid key of the
    config's ``data`` section; ``path``, ``seed`` and ``download`` are always there.

    Optional: ``table_target`` names the parameter holding the label column when the
    adapter reads a user's own table (``vk.train(data=frame, target=...)`` writes the frame
    as ``input<table_suffix>`` and sets ``data.path``); :meth:`to_model_input` maps the
    dataset's own file format to the model's input at predict / serve time; ``protocols``
    and ``task_kinds`` declare what :meth:`load` can produce, for ``check_vertical``.
    """

    id: ClassVar[str] = ""
    description: ClassVar[str] = ""
    files: ClassVar[tuple[str, ...]] = ()
    card: ClassVar[str | None] = None
    table_target: ClassVar[str | None] = None
    table_suffix: ClassVar[str] = ".csv"
    # protocol names load() gives its splits (a name, or its start before a "-seed42" / "-fold3"
    # suffix) and the task kinds it can return; empty: not declared, not checked
    protocols: ClassVar[tuple[str, ...]] = ()
    task_kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: str | Path | None = None, seed: int = 42, download: bool = False):
        self.path = path
        self.seed = seed
        self.download = download

    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self" and sig.parameters[p].kind not in (
            inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    def load(self) -> DatasetSplits:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_model_input(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows in the dataset's own file format → the model's input (``Split.X``).

        Called by ``verticalkit predict``, ``serve`` and ``vk.load(...).predict`` only when a
        table lacks some of the model's input columns, so a frame already in the model's format
        never reaches it. Override when :meth:`load` renames or derives columns; use the
        adapter's own parameters (saved in the run's config.yaml), read no files, and raise
        DataError naming the missing column. The default returns ``df`` unchanged.
        """
        return df
