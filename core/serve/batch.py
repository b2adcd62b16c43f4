"""Batch scoring: stream an input file through a Predictor in chunks, write atomically.

CSV and parquet tables are read in chunks (memory stays flat however long the
file); other inputs (image or DICOM folders, ...) go through the vertical's
``read_input``. A chunk the model rejects is retried row by row; rows that still
fail go to ``<output>.errors.csv`` with the reason, and scoring goes on. Table rows
are first checked against the predictor's saved input schema: a value that does not
convert to the column's type sends its row to the errors file; a missing column is fatal.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from ..errors import DataError, VerticalkitError
from ..io import atomic_path
from .model_input import to_model_input
from ..heads.predictor import Predictor
from ..registry import get_vertical
from ..train.run import score_columns
from .schemas import coerce_table, table_columns

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".tsv")


def is_table(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(TABLE_SUFFIXES)


def read_table_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Yield DataFrame chunks of a CSV / TSV / parquet file."""
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            # pre_buffer=False: pyarrow's default (True) reads every row group's bytes ahead of the
            # first batch, so memory would grow with the file instead of staying one chunk deep
            for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        else:
            from ..data.tabular import NULL_TOKENS, sniff

            sep, encoding = sniff(path)  # the separator and encoding of the file (as training read its own)
            yield from pd.read_csv(path, chunksize=chunk_rows, sep="\t" if name.endswith(".tsv") else sep,
                                   encoding=encoding, na_values=NULL_TOKENS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise DataError(f"{path}: cannot read as a table ({str(e).splitlines()[0]}); "
                        f"give a comma-separated CSV with a header row, or a parquet file") from e


def _chunks(predictor: Predictor, path: Path, chunk_rows: int, id_column: str | None,
            id_map: str | None = None) -> Iterator[tuple[Any, np.ndarray]]:
    if is_table(path):
        offset = 0
        for df in read_table_chunks(path, chunk_rows):
            if id_column is not None:
                if id_column not in df.columns:
                    raise DataError(f"{path}: id column {id_column!r} not found; columns are {list(df.columns)[:20]}")
                ids = df[id_column].to_numpy()
            else:
                ids = np.arange(offset, offset + len(df))
            offset += len(df)
            yield df, ids
        return
    vertical = get_vertical(predictor.vertical)
    if vertical.read_input is None:
        raise DataError(f"{path}: not a CSV/TSV/parquet file, and vertical {predictor.vertical!r} reads no other input")
    # id_map_file: where a vertical whose ids hide file names keeps the id → file map (0o600)
    yield from vertical.read_input(path, chunk_rows, {**predictor.info, "id_map_file": id_map})


def check_rows(predictor: Predictor, X: Any, ids: np.ndarray, errors: list[tuple[Any, str]], where: str = "input"
               ) -> tuple[Any, np.ndarray]:
    """Cast a table chunk to the predictor's saved schema (its columns, in order); rows whose
    values do not convert go to ``errors``. A missing column is fatal (DataError). A chunk in the
    dataset's own format is first mapped by its adapter (:mod:`verticalkit.core.serve.model_input`),
    and raw table columns (money strings, dates) go through the saved column schema."""
    X = to_model_input(predictor, predictor.prepare(X))
    columns = table_columns(predictor.input_schema)
    if columns is None or not isinstance(X, pd.DataFrame):
        return X, ids
    clean, ok, reasons = coerce_table(X, columns, where=where)
    errors.extend(zip(ids[~ok], reasons))
    return clean, ids[ok]


# What a head may raise on a malformed row (besides our own errors): retried row by row.
ROW_ERRORS = (VerticalkitError, ValueError, TypeError)


def _score(predictor: Predictor, X: Any, ids: np.ndarray, errors: list[tuple[Any, str]],
           where: str = "input") -> pd.DataFrame:
    X, ids = check_rows(predictor, X, ids, errors, where)
    if len(ids) == 0:
        return scored_frame(predictor, X, ids, np.arange(0), _empty_scores(predictor))
    try:
        scores = predictor.predict_score(X)
        keep = np.arange(len(ids))
    except ROW_ERRORS as e:
        if not isinstance(X, pd.DataFrame) or len(X) == 1:
            errors.extend((i, str(e)) for i in ids)
            return scored_frame(predictor, X, ids, np.arange(0), _empty_scores(predictor))
        # Find the bad rows; a missing column fails every row and is fatal.
        parts, keep = [], []
        for j in range(len(X)):
            try:
                parts.append(predictor.predict_score(X.iloc[[j]]))
                keep.append(j)
            except ROW_ERRORS as row_err:
                errors.append((ids[j], str(row_err).splitlines()[0] if str(row_err) else type(row_err).__name__))
        if not keep:
            raise
        scores = np.concatenate(parts)
        keep = np.asarray(keep)
    return scored_frame(predictor, X, ids, keep, scores)


def scored_frame(predictor: Predictor, X: Any, ids: np.ndarray, keep: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """The output rows of ``X[keep]``: ``id``, the score columns and, when the head has the optional
    ``review_flags(X)`` hook, ``flag`` ("" or why the row should go to a human)."""
    out = pd.concat([pd.DataFrame({"id": ids[keep]}), score_columns(predictor.task, scores)], axis=1)
    review_flags = getattr(predictor.head, "review_flags", None)
    if review_flags is not None:
        rows = X.iloc[keep] if isinstance(X, pd.DataFrame) else [X[i] for i in keep]
        out["flag"] = np.asarray(review_flags(rows), dtype=object).astype(str) if len(keep) else np.zeros(0, str)
    return out


def _empty_scores(predictor: Predictor) -> np.ndarray:
    k = len(predictor.task.classes)
    return np.zeros((0, k)) if predictor.task.kind in ("multiclass", "multilabel", "multioutput") else np.zeros(0)


def predict_file(predictor: Predictor, input_path: str | Path, output_path: str | Path, *,
                 chunk_rows: int = 100_000, id_column: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Score ``input_path`` into ``output_path`` (.csv or .parquet); return counts."""
    input_path, output_path = Path(input_path), Path(output_path)
    check_paths(input_path, output_path)
    errors: list[tuple[Any, str]] = []
    scored = ((_score(predictor, X, np.asarray(ids), errors, where=str(input_path)), len(ids))
              for X, ids in _chunks(predictor, input_path, chunk_rows, id_column,
                                    str(output_path.with_name(output_path.name + ".ids.csv"))))
    n_rows = write_scored(scored, output_path, progress=progress)
    return summary(output_path, n_rows, errors)


def check_paths(input_path: Path, output_path: Path) -> None:
    """The input exists and neither the output nor its errors file is the input (the atomic
    rename would replace it), compared as resolved paths (relative paths, symlinks)."""
    if not input_path.exists():
        raise DataError(f"{input_path}: no such file or folder; check --input")
    src = input_path.resolve()
    for out in (output_path, output_path.with_name(output_path.name + ".errors.csv")):
        if out.resolve() == src or (out.exists() and os.path.samefile(out, src)):
            raise DataError(f"--output {output_path} would overwrite the input {input_path}; "
                            f"write the scores to another file")


def write_scored(scored: Iterable[tuple[pd.DataFrame, int]], output_path: Path, *, progress: bool = True) -> int:
    """Write ``(scored frame, input rows)`` chunks to ``output_path`` atomically; return rows written."""
    from ..progress import progress as progress_bar

    out_parquet = output_path.suffix.lower() in (".parquet", ".pq")
    n_rows = 0
    with atomic_path(output_path) as tmp:
        writer = None
        bar = progress_bar(desc="scoring", unit="rows", disable=not progress)
        try:
            for i, (frame, n_in) in enumerate(scored):
                n_rows += len(frame)
                bar.update(n_in)
                if out_parquet:
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    if len(frame):
                        writer.write_table(table.cast(writer.schema))
                else:
                    frame.to_csv(tmp, mode="w" if i == 0 else "a", header=i == 0, index=False)
        finally:
            bar.close()
            if writer is not None:
                writer.close()
    return n_rows


def summary(output_path: Path, n_rows: int, errors: list[tuple[Any, str]]) -> dict[str, Any]:
    """Write (or remove a stale) ``<output>.errors.csv``; return the counts."""
    errors_path = output_path.with_name(output_path.name + ".errors.csv")
    if errors:
        with atomic_path(errors_path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "error"])
            w.writerows(errors)
    elif errors_path.exists():
        errors_path.unlink()
    return {"rows": n_rows, "errors": len(errors), "output": str(output_path),
            "errors_file": str(errors_path) if errors else None}
