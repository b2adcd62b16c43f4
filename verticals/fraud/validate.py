"""Input checks shared by the fraud adapters and heads: each failure is one DataError
naming the file, the column (and a row) and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from verticalkit.core.errors import DataError
from verticalkit.core.families.tabular import numeric_values


def read_table(path: str | Path, sep: str = ",", expected: Iterable[str] = (), **kwargs) -> pd.DataFrame:
    """Read a CSV (plain or .gz) or parquet file; empty files and wrong delimiters raise DataError.

    ``expected``: columns the file must have; a file that parses as one column whose
    name contains ``;``, tab or ``|`` is reported as a wrong delimiter.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; check data.path")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; point data.path at a file with a header row and data")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep=sep, **kwargs)
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{path}: the file is empty (no header row); point data.path at a CSV with data") from e
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path}: cannot be parsed as a table ({first}); check the delimiter (data.sep) "
                        f"and that it is a CSV/parquet file") from e
    if df.shape[1] == 1 and any(d in str(df.columns[0]) for d in (";", "\t", "|", ",") if d != sep):
        raise DataError(f"{path}: the header parses as a single column {str(df.columns[0])[:60]!r} with "
                        f"separator {sep!r}: wrong delimiter? set data.sep (e.g. ';' or '\\t')")
    if len(df) == 0:
        raise DataError(f"{path}: the file has a header but no data rows")
    require_columns(df, expected, str(path))
    return df


def require_columns(df: pd.DataFrame, columns: Iterable[str], where: str, what: str = "column") -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        have = ", ".join(map(str, list(df.columns)[:12])) + (" ..." if df.shape[1] > 12 else "")
        raise DataError(f"{where}: missing {what}{'s' if len(missing) > 1 else ''} {missing}; "
                        f"the file has: {have}. Fix the file or the column names in the config")


def numeric_columns(df: pd.DataFrame, columns: Iterable[str], where: str, allow_nan: bool = False,
                    inf_as_nan: bool = False) -> pd.DataFrame:
    """Return ``df[columns]`` as float64; text, NaN (unless allowed) or inf (unless read as NaN)
    raise DataError."""
    out = {}
    for c in columns:
        s = df[c]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            s = numeric_values(s, c, where)
        v = s.to_numpy(dtype=float, na_value=np.nan)
        if inf_as_nan:
            v = np.where(np.isinf(v), np.nan, v)
        if np.isinf(v).any():
            i = int(np.flatnonzero(np.isinf(v))[0])
            raise DataError(f"{where}: column {c!r} holds inf at row {i} ({int(np.isinf(v).sum())} rows); "
                            f"replace infinite values before training")
        if not allow_nan and np.isnan(v).any():
            i = int(np.flatnonzero(np.isnan(v))[0])
            raise DataError(f"{where}: column {c!r} holds NaN / empty values at row {i} "
                            f"({int(np.isnan(v).sum())} rows); impute or drop them before training")
        out[c] = v
    return pd.DataFrame(out, index=df.index)


def binary_target(values: pd.Series | np.ndarray, where: str, column: str,
                  positive: object | None = None) -> np.ndarray:
    """Map a two-valued target to 0/1 (``positive`` → 1; default: 1, True, 'bad', 'fraud' or the larger)."""
    s = pd.Series(values)
    if s.isna().any():
        i = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise DataError(f"{where}: target {column!r} is empty at row {i} ({int(s.isna().sum())} rows); "
                        f"drop unlabelled rows")
    labels = sorted(s.unique().tolist(), key=str)
    if len(labels) < 2:
        raise DataError(f"{where}: target {column!r} has a single class ({labels[0]!r}) in {len(s)} rows; "
                        f"a classifier needs both classes — check the file or the target column")
    if len(labels) > 2:
        raise DataError(f"{where}: target {column!r} has {len(labels)} values {labels[:6]}; the fraud vertical "
                        f"predicts a binary target (map it to 0/1 first)")
    if positive is None:
        for cand in (1, True, "1", "bad", "fraud", "yes"):
            if any(type(v) is type(cand) and v == cand for v in labels) or cand in labels:
                positive = cand
                break
        else:
            positive = labels[1]
    if positive not in labels:
        raise DataError(f"{where}: positive label {positive!r} is not among the target values {labels}")
    return (s == positive).to_numpy().astype(int)


def unique_ids(ids: pd.Series | np.ndarray, where: str, column: str) -> np.ndarray:
    s = pd.Series(ids)
    dup = s.duplicated(keep=False)
    if dup.any():
        examples = s[dup].unique()[:3].tolist()
        raise DataError(f"{where}: id column {column!r} has {int(s.duplicated().sum())} duplicated values "
                        f"(e.g. {examples}); transaction ids must be unique — deduplicate the file")
    return s.astype(str).to_numpy()
