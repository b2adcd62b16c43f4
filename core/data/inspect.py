"""``verticalkit data inspect FILE``: what a table holds and the train command to run next."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .schema import TableSchema, parse_datetime, separating_columns
from .tabular import read_any_table

TARGET_NAMES = re.compile(r"^(class|target|label|y|fraud|is_?fraud|default|bad|status|outcome|churn)$", re.I)
TIME_NAMES = re.compile(r"(time|date|timestamp|^ts$|day|dt$)", re.I)
POSITIVE_TOKENS = ("1", "1.0", "true", "t", "y", "yes", "bad", "fraud")


def _two_valued(s: pd.Series) -> bool:
    return s.nunique(dropna=True) == 2


def target_candidates(df: pd.DataFrame) -> list[str]:
    """Two-valued columns, those named like a target first."""
    two = [c for c in df.columns if _two_valued(df[c])]
    return sorted(two, key=lambda c: (not TARGET_NAMES.match(str(c)), list(df.columns).index(c)))


def time_candidates(df: pd.DataFrame, schema: TableSchema) -> list[str]:
    """Datetime columns, then numeric columns named like a time that mostly increase."""
    out = [c for c, s in schema.columns.items() if s.kind == "datetime"]
    for c in df.columns:
        if c in out or not TIME_NAMES.search(str(c)) or not pd.api.types.is_numeric_dtype(df[c]):
            continue
        v = df[c].to_numpy(dtype=float, na_value=np.nan)
        v = v[np.isfinite(v)]
        if len(v) > 1 and np.mean(np.diff(v) >= 0) > 0.9:
            out.append(c)
    return out


def positive_of(counts: pd.Series) -> tuple[object, bool]:
    """The positive value of a two-valued target and whether the kit would pick it by itself."""
    lowered = {str(v).strip().lower(): v for v in counts.index}
    for k in POSITIVE_TOKENS:
        if k in lowered:
            return lowered[k], True
    return counts.idxmin(), False


def inspect_file(path: str | Path, target: str | None = None, sep: str | None = None, vertical: str = "fraud",
                 header: bool | None = None) -> str:
    """The report ``verticalkit data inspect`` prints; the train line is for ``vertical``'s ``csv`` dataset."""
    path = Path(path)
    df = read_any_table(path, sep=sep, header=header)
    if target is not None and target not in df.columns:
        raise DataError(f"{path}: --target {target!r} is not a column; the columns are: "
                        + ", ".join(map(str, list(df.columns)[:20])))
    cands = target_candidates(df)
    chosen = target or (cands[0] if cands and TARGET_NAMES.match(str(cands[0])) else None)
    schema = TableSchema.infer(df, exclude=[chosen] if chosen else [])
    mem = df.memory_usage(deep=True).sum() / 2**20
    lines = [f"{path.name}: {len(df):,} rows × {df.shape[1]} columns ({mem:,.0f} MB in memory)", "",
             schema.describe(df, max_rows=200), ""]
    kinds = pd.Series([s.kind for s in schema.columns.values()]).value_counts()
    lines.append("kinds: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    ids = [c for c, s in schema.columns.items() if s.kind == "id"]
    times = time_candidates(df, schema)
    lines.append(f"candidate targets (two values): {', '.join(map(str, cands[:8])) or 'none'}")
    lines.append(f"id-like columns (left out of training): {', '.join(ids) or 'none'}")
    lines.append(f"candidate time columns: {', '.join(map(str, times)) or 'none'}")
    train = ["verticalkit", "train", vertical, "--dataset", "csv", "--set", f"data.path={path}"]
    if header is not None:
        train += ["--set", f"data.header={str(header).lower()}"]
    if chosen is None:
        lines.append("no target chosen: rerun with --target COLUMN")
    else:
        y_raw = df[chosen]
        counts = y_raw.astype("string").str.strip().value_counts()
        empty = int(y_raw.isna().sum())
        lines.append(f"target {chosen!r}: " + ", ".join(f"{v!r} {n:,} ({n / counts.sum():.2%})"
                                                      for v, n in counts.head(6).items())
                     + (f"; {empty:,} empty (left out)" if empty else ""))
        train += ["--set", f"data.target={chosen}"]
        if len(counts) != 2:
            lines.append(f"warning: target {chosen!r} has {len(counts)} values, not 2: the fraud vertical needs a "
                         f"binary target")
        else:
            positive, auto = positive_of(counts)
            if not auto:
                train += ["--set", f"data.positive_label={positive}"]
            known = y_raw.notna().to_numpy()
            y = (y_raw.astype("string").str.strip() == str(positive)).to_numpy(dtype=bool, na_value=False)
            X = schema.transform(df[known].reset_index(drop=True))
            leaks = separating_columns(X, y[known].astype(int))
            for c, auc in leaks:
                lines.append(f"warning: column {c!r} alone separates the target (ROC-AUC {auc:.4f}): a leak? "
                             f"--set data.drop=[{c.split('__')[0]}]")
            if not leaks:
                lines.append("leakage: no single column separates the target (ROC-AUC < 0.99)")
    if times:
        t = times[0]
        train += ["--set", f"data.time_column={t}", "--set", "data.protocol=temporal"]
        if schema.columns.get(t) is not None and schema.columns[t].kind == "datetime":
            d = parse_datetime(df[t], schema.columns[t].formats)
            lines.append(f"time {t!r}: {d.min()} .. {d.max()}")
    train += ["--out", f"runs/{re.sub(r'[^A-Za-z0-9_-]+', '-', path.name.split('.')[0])}"]
    lines += ["", "next:", "  " + " ".join(shlex.quote(a) for a in train)]
    return "\n".join(lines)
