"""Batch scoring with Ray Data (``pip install 'verticalkit[ray]'``): ``predict --engine ray``.

The same scoring as :func:`verticalkit.core.serve.batch.predict_file`, spread over Ray
workers: Ray Data reads the CSV / parquet file in blocks, each worker (an actor
holding one copy of the Predictor) scores batches with the same row checks, and
the driver streams the results, in input order, into the same atomic writer.
Every input row yields exactly one result row (scores, or an error message), so
positional ids and the output file are identical to the single-process path.

Locally ``ray.init(num_cpus=workers)`` starts a private instance; on a cluster pass
its address (``--ray-address ray://head:10001`` or ``auto``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from .batch import _empty_scores, _score, check_paths, is_table, summary, write_scored
from ..errors import ConfigError, DataError
from ..heads.predictor import Predictor
from ..train.run import score_columns

ERROR_COL = "__verticalkit_error__"


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise ConfigError("--engine ray needs Ray Data: pip install 'verticalkit[ray]' (ray[data])") from e
    return ray


class ScoreBatch:
    """A Ray Data callable class: one Predictor per worker, one result row per input row."""

    def __init__(self, predictor: Predictor, id_column: str | None, where: str):
        self.predictor, self.id_column, self.where = predictor, id_column, where

    def __call__(self, batch: Any) -> pd.DataFrame:
        df = batch.to_pandas()  # numpy-backed dtypes, as pandas.read_csv gives the local path
        pos = np.arange(len(df))
        errors: list[tuple[Any, str]] = []
        if self.id_column is not None and self.id_column not in df.columns:
            raise DataError(f"{self.where}: id column {self.id_column!r} not found; "
                            f"columns are {list(df.columns)[:20]}")
        scored = _score(self.predictor, df, pos, errors, where=self.where)
        out = scored.set_index("id").reindex(pos)
        out[ERROR_COL] = None
        for j, msg in errors:
            out.loc[j, ERROR_COL] = msg
        out = out.reset_index(drop=True)
        out.insert(0, "id", df[self.id_column].to_numpy() if self.id_column is not None else -1)
        return out


def predict_file_ray(predictor: Predictor, input_path: str | Path, output_path: str | Path, *,
                     chunk_rows: int = 100_000, id_column: str | None = None, progress: bool = True,
                     address: str | None = None, num_workers: int = 2,
                     runtime_env: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score a CSV / parquet file with Ray Data; same outputs and summary as ``predict_file``."""
    ray = _ray()
    input_path, output_path = Path(input_path), Path(output_path)
    check_paths(input_path, output_path)
    if not is_table(input_path):
        raise DataError(f"{input_path}: --engine ray scores CSV / TSV / parquet files; use --engine local for folders")
    started = not ray.is_initialized()
    if started:
        # locally: one CPU per scoring actor plus one for the read tasks (else they wait on each other)
        kw: dict[str, Any] = {"address": address} if address else {"num_cpus": num_workers + 1}
        ray.init(**kw, runtime_env=runtime_env, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        ds = _read(ray, input_path)
        scored = ds.map_batches(ScoreBatch, fn_constructor_kwargs={"predictor": predictor, "id_column": id_column,
                                                                   "where": str(input_path)},
                                batch_format="pyarrow", batch_size=chunk_rows, concurrency=num_workers)
        errors: list[tuple[Any, str]] = []
        template = score_columns(predictor.task, _empty_scores(predictor))
        n_rows = write_scored(_collect(scored, template, id_column, errors, chunk_rows), output_path,
                              progress=progress)
    finally:
        if started:
            ray.shutdown()
    return summary(output_path, n_rows, errors)


def _read(ray: Any, path: Path) -> Any:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return ray.data.read_parquet(str(path))
    import pyarrow.csv as pacsv

    opts = pacsv.ParseOptions(delimiter="\t") if name.endswith(".tsv") else None
    return ray.data.read_csv(str(path), parse_options=opts) if opts else ray.data.read_csv(str(path))


def _collect(scored: Any, template: pd.DataFrame, id_column: str | None, errors: list[tuple[Any, str]],
             chunk_rows: int) -> Iterator[tuple[pd.DataFrame, int]]:
    """Result batches in input order → (good rows with the local path's dtypes, input rows)."""
    offset = 0
    for batch in scored.iter_batches(batch_format="pandas", batch_size=chunk_rows):
        n = len(batch)
        if id_column is None:
            batch["id"] = np.arange(offset, offset + n)
        offset += n
        bad = batch[ERROR_COL].notna().to_numpy()
        errors.extend(zip(batch["id"].to_numpy()[bad], batch[ERROR_COL].to_numpy()[bad]))
        good = batch.loc[~bad].drop(columns=[ERROR_COL]).reset_index(drop=True)
        for col, dtype in template.dtypes.items():
            good[col] = good[col].astype(dtype)
        yield good, n
