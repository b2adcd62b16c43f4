"""The Python API behind ``import verticalkit as vk``.

Each function goes through the same code as the matching command (``verticalkit train``,
``evaluate``, ``predict``): keyword config is turned into the CLI's ``--set key=value``
overrides, so a wrong key or type raises the same :class:`~verticalkit.core.errors.ConfigError`
naming the key and the valid ones.
"""

from __future__ import annotations

import datetime
import json
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from verticalkit.core.data.adapter import DatasetAdapter, DatasetSplits
from verticalkit.core.errors import ConfigError, DataError

__all__ = ["Evaluation", "Model", "Run", "datasets", "evaluate", "load", "load_dataset", "models", "train",
           "verticals"]


# ----------------------------------------------------------------------------- discovery


def verticals() -> list[str]:
    """Ids of every registered vertical (built-in and installed plug-ins), sorted."""
    from verticalkit.core.registry import list_verticals

    return list_verticals()


def datasets(vertical: str) -> list[str]:
    """Dataset ids of ``vertical`` (``verticalkit list`` shows the default)."""
    from verticalkit.core.registry import get_vertical

    return list(get_vertical(vertical).datasets)


def models(vertical: str) -> list[str]:
    """Model (head) names of ``vertical``."""
    from verticalkit.core.registry import get_vertical

    return list(get_vertical(vertical).models)


# ----------------------------------------------------------------------------- config


def _json(value: Any, key: str) -> str:
    """A value as JSON text, which the ``--set`` parser (YAML) reads back to the same value."""
    def plain(v: Any) -> Any:
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return v

    try:
        return json.dumps(plain(value), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config key {key!r}: {value!r} ({type(value).__name__}) is not a plain value "
                          f"(number, string, bool, None, list or mapping); fix its value") from e


def to_sets(config: dict[str, Any]) -> list[str]:
    """Keyword config (``seed=1, train={"epochs": 5}``) as ``--set`` items (``["seed=1", "train.epochs=5"]``)."""
    items = []
    for key, value in config.items():
        if isinstance(value, dict):
            items += [f"{key}.{sub}={_json(v, f'{key}.{sub}')}" for sub, v in value.items()]
        else:
            items.append(f"{key}={_json(value, key)}")
    return items


# ----------------------------------------------------------------------------- data


def load_dataset(vertical: str, dataset: str | None = None, **data_params: Any) -> DatasetSplits:
    """Load a dataset's splits as training would: ``splits.train.X`` (a DataFrame for tables and
    texts, an array for images), ``splits.train.y``, likewise ``.val`` / ``.test``, and ``splits.task``.

    ``data_params`` are the adapter's parameters (the ``data.*`` config keys), e.g.
    ``vk.load_dataset("fraud", "ulb-creditcard", protocol="temporal")``.
    """
    from verticalkit.core.registry import get_vertical
    from verticalkit.core.train.run import build_config, load_splits

    cfg = build_config(vertical, dataset, None, "", sets=to_sets({"data": data_params}))
    return load_splits(cfg, get_vertical(vertical))


# ----------------------------------------------------------------------------- results


@dataclass
class Evaluation:
    """One evaluation written to disk: ``metrics`` (name → value), ``ci`` (name → 95% CI or None),
    ``primary`` (the primary metric's name), ``dir`` and ``report_path``."""

    dir: Path
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float] | None]
    primary: str | None = None
    split: str = "test"
    n: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # metrics.json as written

    @property
    def report_path(self) -> Path:
        return self.dir / "report.html"

    @classmethod
    def from_dir(cls, folder: str | Path) -> Evaluation:
        folder = Path(folder)
        doc = json.loads((folder / "metrics.json").read_text())
        metrics, ci = {}, {}
        for name, m in doc.get("metrics", {}).items():
            if isinstance(m, dict) and isinstance(m.get("value"), (int, float)):
                metrics[name] = float(m["value"])
                lo_hi = m.get("ci95")
                ci[name] = (float(lo_hi[0]), float(lo_hi[1])) if lo_hi and None not in lo_hi else None
        return cls(folder, metrics, ci, doc.get("primary"), doc.get("split", "test"), int(doc.get("n", 0)), doc)

    def __repr__(self) -> str:
        head = f"{self.primary}={self.metrics[self.primary]:.4f}" if self.primary in self.metrics else ""
        return f"{type(self).__name__}({str(self.dir)!r}, {self.split} n={self.n}, {head})"


@dataclass(repr=False)
class Run(Evaluation):
    """A finished training run (``vk.train``): its test metrics plus the trained ``predictor``."""

    @cached_property
    def predictor(self) -> Model:
        return load(self.dir)


# ----------------------------------------------------------------------------- training


def _new_run_dir(vertical: str, dataset: str, model: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{vertical}-{dataset}-{model}-{stamp}"
    out, i = base, 1
    while out.exists():
        out, i = base.with_name(f"{base.name}-{i}"), i + 1
    return out


def _table_adapter(vertical: str, dataset: str | None) -> tuple[str, type[DatasetAdapter]]:
    """The adapter that reads a user's own table: ``dataset`` or the vertical's only such adapter."""
    from verticalkit.core.registry import get_vertical

    v = get_vertical(vertical)
    tables = [d for d, cls in v.datasets.items() if cls.table_target is not None]
    if dataset is None:
        if not tables:
            raise ConfigError(f"vertical {vertical!r} has no dataset that reads a table (data=DataFrame); "
                              f"its datasets are {list(v.datasets)}")
        dataset = tables[0]
    cls = v.dataset(dataset)
    if cls.table_target is None:
        raise ConfigError(f"dataset {dataset!r} of {vertical!r} does not read a table; for data=DataFrame use "
                          f"one of {tables or '(none)'}")
    return dataset, cls


def train(vertical: str, dataset: str | None = None, model: str | None = None, *,
          data: pd.DataFrame | dict[str, Any] | None = None, target: str | None = None,
          data_params: dict[str, Any] | None = None, out: str | Path | None = None,
          config_file: str | Path | None = None, overwrite: bool = False, **config: Any) -> Run:
    """Train ``model`` on ``dataset`` of ``vertical`` and write a run directory, like ``verticalkit train``.

    data: the adapter's parameters (``{"protocol": "temporal"}``), or a pandas DataFrame of your
    own rows: it is written into the run directory (``<out>/data/``) and read by the vertical's
    table adapter (fraud: ``csv``; essay_scoring: ``essay-csv``) exactly as a file would be.
    target: the label column of your table (the adapter's ``table_target`` parameter).
    data_params: more ``data.*`` keys beside a DataFrame (``{"categorical_columns": ["channel"]}``).
    out: the run directory (default: a new ``runs/<vertical>-<dataset>-<model>-<time>``).
    config_file: a YAML config file (``--config``); config: the other config keys,
    e.g. ``seed=0, train={"epochs": 5}, model_params={"C": 0.5}, eval={"n_bootstrap": 200}``.
    """
    from verticalkit.core.train import run as runlib

    frame = data if isinstance(data, pd.DataFrame) else None
    if data is not None and frame is None and not isinstance(data, dict):
        raise ConfigError(f"data= takes a mapping of data.* keys or a pandas DataFrame, not {type(data).__name__}")
    config["data"] = {**(data if isinstance(data, dict) else {}), **(data_params or {})}
    if frame is not None or target is not None:
        dataset, adapter_cls = _table_adapter(vertical, dataset)
        if target is not None:
            config["data"][adapter_cls.table_target] = target
    cfg = runlib.build_config(vertical, dataset, model, "", str(config_file) if config_file else None,
                              to_sets(config))
    out = Path(out) if out is not None else _new_run_dir(vertical, cfg.dataset, cfg.model)
    cfg.out = str(out)
    created = False
    if frame is not None:
        if frame.empty:
            raise DataError("data: the DataFrame has no rows")
        # the run folder's checks (a user's folder is refused; overwrite removes only run outputs) come
        # first, so that the table written below stays
        created = runlib.prepare_out(out, overwrite)
        overwrite = False
        cfg.data["path"] = str(write_frame(frame, out / "data", adapter_cls.table_suffix).resolve())
    try:
        runlib.train(cfg, overwrite=overwrite)
    except BaseException:
        if created and not (out / "metrics.json").exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    result = Evaluation.from_dir(out)
    return Run(**{k: getattr(result, k) for k in ("dir", "metrics", "ci", "primary", "split", "n", "raw")})


def write_frame(frame: pd.DataFrame, folder: Path, suffix: str) -> Path:
    """Write ``frame`` as ``folder/input<suffix>`` (.parquet or .csv, atomically); return the path."""
    from verticalkit.core.io import atomic_path

    dest = folder / f"input{suffix}"
    with atomic_path(dest) as tmp:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    return dest


def monitor(run: str | Path | Evaluation, batch: Any, labels: str | None = None, out: str | Path | None = None,
            **options: Any) -> dict[str, Any]:
    """Drift of ``batch`` (a file, folder, DataFrame) against the run's training reference, as
    ``verticalkit monitor``: the monitor.json document (written with monitor.html to ``out`` when given).
    ``options``: ``time_column``, ``window``, ``sets`` (e.g. ``["monitor.psi=0.25"]``)."""
    from verticalkit.core.serve.monitor import monitor as _monitor

    return _monitor(getattr(run, "dir", run), batch, labels=labels, out=out, **options)


def evaluate(path: str | Path, dataset: str | None = None, split: str = "test", **config: Any) -> Evaluation:
    """Re-evaluate a run on ``split`` (of another dataset of its vertical, if given), like
    ``verticalkit evaluate``; writes ``<run>/eval/<dataset>-<split>/``. ``config`` overrides
    keys as in :func:`train` (e.g. ``data={"fold": 1}``)."""
    from verticalkit.core.train.run import evaluate_run

    return Evaluation.from_dir(evaluate_run(path, dataset=dataset, split=split, sets=to_sets(config)))


# ----------------------------------------------------------------------------- prediction


def load(path: str | Path) -> Model:
    """Load the model of a run directory (or its ``model/`` folder) for prediction."""
    from verticalkit.core.heads.predictor import Predictor, resolve_model_dir

    return Model(Predictor.load(resolve_model_dir(path)))


class Model:
    """A trained model: ``predict(df)`` → a DataFrame, ``predict_proba`` (classification),
    ``explain(df)`` (where the vertical gives reason codes for this head).

    Inputs may be in the model's own columns or in the raw format of the dataset it was trained
    on (the adapter's ``to_model_input`` hook maps them, as ``verticalkit predict`` does).
    ``predictor`` is the underlying :class:`verticalkit.core.heads.predictor.Predictor`.
    """

    def __init__(self, predictor: Any):
        self.predictor = predictor
        self.task = predictor.task

    def __repr__(self) -> str:
        p = self.predictor
        return f"Model({p.vertical}/{p.dataset}/{p.model}, {p.task.kind})"

    def _rows(self, X: Any, id_column: str | None) -> tuple[Any, np.ndarray]:
        """``X`` checked against the saved schema (raw inputs mapped first) and its row ids."""
        from verticalkit.core.serve.batch import check_rows

        if id_column is not None:
            if not isinstance(X, pd.DataFrame) or id_column not in X.columns:
                raise DataError(f"input: id column {id_column!r} not found")
            ids = X[id_column].to_numpy()
        elif isinstance(X, pd.DataFrame):
            ids = X.index.to_numpy()
        else:
            ids = np.arange(len(X))
        errors: list[tuple[Any, str]] = []
        X, ids = check_rows(self.predictor, X, ids, errors)
        if errors:
            raise DataError(f"input: {len(errors)} row(s) cannot be scored; first, row {errors[0][0]!r}: "
                            f"{errors[0][1]}. Fix or drop those rows")
        return X, ids

    def predict(self, X: Any, *, id_column: str | None = None) -> pd.DataFrame:
        """One row per input row: ``id`` (``id_column`` or the frame's index), ``score`` (binary)
        or ``p_<class>`` columns (multi-class / multi-label), and ``prediction``; the same columns
        as ``verticalkit predict`` writes."""
        from verticalkit.core.serve.batch import scored_frame

        X, ids = self._rows(X, id_column)
        scores = self.predictor.predict_score(X)
        return scored_frame(self.predictor, X, ids, np.arange(len(ids)), scores)

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, k)`` class probabilities (classification tasks only), columns in ``task.classes`` order."""
        X, _ = self._rows(X, None)
        return self.predictor.predict_proba(X)

    @property
    def explains(self) -> bool:
        """Whether :meth:`explain` gives reason codes for this model."""
        from verticalkit.core.registry import get_vertical

        v = get_vertical(self.predictor.vertical)
        return v.explain is not None and (v.explains is None or bool(v.explains(self.predictor)))

    def explain(self, X: Any, *, id_column: str | None = None) -> pd.DataFrame:
        """Reason codes per row (``id``, ``reasons``: a list of strings, most important first), from
        the vertical's ``explain`` hook; raises where this model has none (see :attr:`explains`)."""
        from verticalkit.core.errors import VerticalkitError
        from verticalkit.core.registry import get_vertical

        if not self.explains:
            raise VerticalkitError(f"model {self.predictor.model!r} of {self.predictor.vertical!r} gives no reason "
                                   f"codes (fraud: train model='scorecard')")
        X, ids = self._rows(X, id_column)
        reasons = get_vertical(self.predictor.vertical).explain(self.predictor, X)
        return pd.DataFrame({"id": ids, "reasons": [list(r) for r in reasons]})
