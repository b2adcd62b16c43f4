"""Column types inferred from a table's data, saved with a model and applied to raw files.

Kinds (what a column becomes for the heads):

* ``numeric``: float64, NaN for missing; ±inf becomes NaN (counted). Text that parses as a
  number is read as one; other text in a numeric column becomes NaN (counted).
* ``money``: ``"$1,234.50"``, ``"(1,200)"``, ``"12%"``, ``"€ 5"``, trailing spaces → float64.
* ``boolean``: ``Y/N``, ``yes/no``, ``true/false``, ``t/f`` → 1.0 / 0.0, NaN for missing.
* ``categorical``: pandas ``category`` (any cardinality), NaN for missing; text columns and
  integer codes with few, sparse values (e.g. 101, 205, 330).
* ``datetime``: parsed with the formats found on the data (several when a column mixes them),
  expanded into ``<col>__dow``, ``<col>__month``, ``<col>__hour`` (when times vary) and
  ``<col>__days`` (days before the latest date of the training data).
* ``id`` (unique per row), ``constant`` (one value or empty) and ``drop``: left out.

skrub 0.11 was tried first: its ``Cleaner`` left ``"$60,000.00 "``, ``"12%"``, ``Y/N`` and
even plain numeric strings (``"1"``, ``"2"``) as text, and ``ToDatetime`` rejected ``28-Feb-97``
and a column mixing ISO and ``dd/mm/yyyy`` dates (RejectColumn), so the parsing here is the
kit's own; it runs on each column's distinct values only.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError

KINDS = ("numeric", "money", "boolean", "categorical", "datetime", "id", "constant", "drop")
USER_KINDS = ("numeric", "money", "boolean", "categorical", "datetime", "drop")
TRUE_TOKENS = {"y", "yes", "true", "t"}
FALSE_TOKENS = {"n", "no", "false", "f"}
DATE_FORMATS = ("ISO8601", "%d/%m/%Y", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S",
                "%m/%d/%Y %H:%M:%S", "%d-%b-%y", "%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%d.%m.%Y", "%Y/%m/%d",
                "%d/%m/%y", "%m/%d/%y", "%Y%m%d")
_MONEY = re.compile(r"^\(?[-+]?\s*[$€£¥]?\s*[-+]?\s*(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?\s*[$€£¥%]?\)?$")
_HAS_MONEY_MARK = re.compile(r"[$€£¥%,()]")
SAMPLE = 20_000  # distinct values looked at to infer a text column's kind


def parse_numbers(values: pd.Series) -> pd.Series:
    """Money / percent / plain number strings → float (NaN where a value is not one)."""
    s = values.astype("string").str.strip()
    neg = s.str.startswith("(") & s.str.endswith(")")
    cleaned = s.str.replace(r"[\s$€£¥%,()]", "", regex=True)
    out = pd.to_numeric(cleaned, errors="coerce").astype(float)
    out[neg.fillna(False).to_numpy()] *= -1
    return out


def _on_uniques(s: pd.Series, fn) -> pd.Series:
    """Apply ``fn`` (Series → Series) to the distinct values of ``s`` and map back."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes, uniques = s.cat.codes.to_numpy(), pd.Series(s.cat.categories)
    else:
        codes, idx = pd.factorize(s, use_na_sentinel=True)
        uniques = pd.Series(idx)
    vals = fn(uniques).to_numpy()
    out = np.full(len(codes), np.nan if vals.dtype.kind == "f" else None, dtype=vals.dtype)
    ok = codes >= 0
    out[ok] = vals[codes[ok]]
    return pd.Series(out, index=s.index, name=s.name)


def _bool_values(u: pd.Series) -> pd.Series:
    t = u.astype("string").str.strip().str.lower()
    return pd.Series(np.where(t.isin(TRUE_TOKENS), 1.0, np.where(t.isin(FALSE_TOKENS), 0.0, np.nan)))


def _dates(u: pd.Series, formats: list[str]) -> pd.Series:
    t = u.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = out.isna() & t.notna()
        if not todo.any():
            break
        parsed = pd.to_datetime(t[todo], format=fmt, errors="coerce", utc=fmt == "ISO8601")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert(None)
        out[todo] = parsed.astype("datetime64[ns]")
    return out


def find_date_formats(u: pd.Series, min_share: float = 0.95) -> list[str]:
    """The formats (up to 4, greedy) that parse ≥ ``min_share`` of distinct values; [] if none do."""
    t = u.dropna().astype("string").str.strip()
    t = t[t.str.contains(r"\d", regex=True) & (t.str.len() >= 6)]
    if len(t) < max(1, min_share * u.notna().sum()):
        return []
    chosen: list[str] = []
    todo = t
    while len(todo) and len(chosen) < 4:
        best, best_ok = None, None
        for fmt in DATE_FORMATS:
            if fmt in chosen or (fmt == "%Y%m%d" and not todo.str.fullmatch(r"\d{8}").all()):
                continue
            ok = pd.to_datetime(todo, format=fmt, errors="coerce", utc=fmt == "ISO8601").notna()
            if best_ok is None or ok.sum() > best_ok.sum():
                best, best_ok = fmt, ok
        if best is None or not best_ok.any():
            break
        chosen.append(best)
        todo = todo[~best_ok.to_numpy()]
    return chosen if len(todo) <= (1 - min_share) * len(t) else []


@dataclass
class ColumnSpec:
    """How one raw column becomes features."""

    kind: str
    note: str = ""
    formats: list[str] = field(default_factory=list)
    reference: str | None = None  # datetime: the training data's latest date (ISO)
    hour: bool = False  # datetime: whether an hour feature is made

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind}
        if self.note:
            d["note"] = self.note
        if self.kind == "datetime":
            d.update(formats=list(self.formats), reference=self.reference, hour=self.hour)
        return d


def _is_text(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
                or pd.api.types.is_datetime64_any_dtype(s)) or (
        isinstance(s.dtype, pd.CategoricalDtype) and not pd.api.types.is_numeric_dtype(s.cat.categories))


def _distinct(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.CategoricalDtype):
        used = np.unique(s.cat.codes.to_numpy())
        return pd.Series(s.cat.categories[used[used >= 0]])
    return pd.Series(s.dropna().unique())


def _looks_like_id(name: str) -> bool:
    return bool(re.search(r"(^|[_\s-])id$|^id[_\s-]|[a-z]Id$|ID$", name)) or name.lower() in ("id", "uuid", "key")


def infer_column(s: pd.Series) -> ColumnSpec:
    """The kind of one raw column, with a note when it is left out or partly unparsable."""
    n = len(s)
    nonnull = int(s.notna().sum())
    if nonnull == 0:
        return ColumnSpec("constant", "empty")
    if pd.api.types.is_datetime64_any_dtype(s):
        return ColumnSpec("datetime", formats=["ISO8601"])
    if pd.api.types.is_bool_dtype(s):
        return ColumnSpec("boolean")
    uniq = _distinct(s)
    if len(uniq) == 1 and nonnull == n:  # one value and empty cells: the gaps still carry information
        return ColumnSpec("constant", f"one value ({str(uniq.iloc[0])[:20]!r})")
    if not _is_text(s):
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(s.cat.categories.dtype)
        v = s.to_numpy(dtype=float, na_value=np.nan)
        finite = v[np.isfinite(v)]
        is_int = len(finite) > 0 and bool(np.all(finite == np.round(finite)))
        if is_int and len(uniq) == nonnull == n and (_looks_like_id(str(s.name)) or
                                                     bool(np.all(np.diff(v) == 1))):
            return ColumnSpec("id", "unique integer per row")
        span = float(finite.max() - finite.min() + 1) if len(finite) else 0.0
        if is_int and 3 <= len(uniq) <= 50 and span > 4 * len(uniq) and finite.min() >= 0:
            return ColumnSpec("categorical", f"{len(uniq)} sparse integer codes")
        return ColumnSpec("numeric")
    u = uniq.astype("string").str.strip()
    u = u[u != ""]
    sample = u.sample(min(len(u), SAMPLE), random_state=0) if len(u) > SAMPLE else u
    low = sample.str.lower()
    if low.nunique() <= 2 and low.isin(TRUE_TOKENS | FALSE_TOKENS).all():
        return ColumnSpec("boolean")
    nums = parse_numbers(sample)
    share = float(nums.notna().mean())
    if share >= 0.95:
        money = sample.str.contains(_HAS_MONEY_MARK).mean() > 0.5
        bad = int(parse_numbers(u).isna().sum())
        note = f"{bad} distinct non-numbers → missing" if bad else ""
        return ColumnSpec("money" if money else "numeric", note)
    formats = find_date_formats(sample)
    if formats:
        return ColumnSpec("datetime", formats=formats)
    if len(uniq) >= 0.95 * nonnull and nonnull >= 20:
        return ColumnSpec("id", f"{len(uniq):,} distinct values in {nonnull:,} rows")
    return ColumnSpec("categorical")


def date_features(name: str, d: pd.Series, spec: ColumnSpec) -> dict[str, np.ndarray]:
    """Day of week, month, hour (when times vary) and days before the reference date."""
    ref = pd.Timestamp(spec.reference) if spec.reference else d.max()
    feats = {f"{name}__dow": d.dt.day_of_week.to_numpy(dtype=float, na_value=np.nan),
             f"{name}__month": d.dt.month.to_numpy(dtype=float, na_value=np.nan)}
    if spec.hour:
        feats[f"{name}__hour"] = d.dt.hour.to_numpy(dtype=float, na_value=np.nan)
    feats[f"{name}__days"] = ((ref - d).dt.total_seconds() / 86400.0).to_numpy(dtype=float, na_value=np.nan)
    return feats


def parse_datetime(s: pd.Series, formats: list[str]) -> pd.Series:
    """A raw column as datetime64[ns] (NaT where no saved format parses it)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert(None)
        return s.astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype("Int64").astype("string")
    return _on_uniques(s, lambda u: _dates(u, formats)).astype("datetime64[ns]")


class TableSchema:
    """Inferred (and overridden) column kinds of a raw table; ``transform`` makes the features.

    ``columns``: ``{raw column: ColumnSpec}`` in file order, feature columns and left-out ones.
    """

    def __init__(self, columns: dict[str, ColumnSpec]):
        self.columns = columns

    # -- inference ---------------------------------------------------------------------
    @classmethod
    def infer(cls, df: pd.DataFrame, exclude: tuple | list = (), overrides: dict[str, str] | None = None,
              drop: tuple | list = (), where: str = "data") -> TableSchema:
        """Infer every column of ``df`` but ``exclude`` (target, time, id, group columns).

        ``overrides``: ``{column: kind}`` from the config (kinds: numeric, money, boolean,
        categorical, datetime, drop); ``drop``: columns to leave out. Unknown columns or kinds
        raise a ConfigError naming them.
        """
        overrides = dict(overrides or {})
        named = [*overrides, *drop]
        unknown = [c for c in named if c not in df.columns]
        if unknown:
            have = ", ".join(map(str, list(df.columns)[:15])) + (" ..." if df.shape[1] > 15 else "")
            raise ConfigError(f"{where}: column{'s' if len(unknown) > 1 else ''} {unknown} in data.columns / "
                              f"data.drop not in the file; its columns are: {have}")
        bad = {c: k for c, k in overrides.items() if k not in USER_KINDS}
        if bad:
            raise ConfigError(f"data.columns: kind {bad} unknown; choose one of {', '.join(USER_KINDS)}")
        cols: dict[str, ColumnSpec] = {}
        for c in df.columns:
            if c in exclude:
                continue
            if c in drop:
                cols[c] = ColumnSpec("drop", "data.drop")
            elif c in overrides:
                cols[c] = ColumnSpec(overrides[c], "set in config")
                if overrides[c] == "datetime":
                    u = _distinct(df[c])
                    cols[c].formats = (["ISO8601"] if pd.api.types.is_datetime64_any_dtype(df[c]) else
                                       find_date_formats(u, min_share=0.5) or ["ISO8601"])
            else:
                cols[c] = infer_column(df[c])
            if cols[c].kind == "datetime":
                d = parse_datetime(df[c], cols[c].formats)
                cols[c].reference = None if d.isna().all() else d.max().isoformat()
                t = d.dropna()
                cols[c].hour = bool(len(t) and (t.dt.hour != 0).any())
        return cls(cols)

    # -- application -------------------------------------------------------------------
    @property
    def used(self) -> list[str]:
        """Raw columns that make features."""
        return [c for c, s in self.columns.items() if s.kind not in ("id", "constant", "drop")]

    def feature_names(self) -> list[str]:
        names: list[str] = []
        for c in self.used:
            spec = self.columns[c]
            if spec.kind == "datetime":
                names += [f"{c}__dow", f"{c}__month", *([f"{c}__hour"] if spec.hour else []), f"{c}__days"]
            else:
                names.append(c)
        return names

    def transform(self, df: pd.DataFrame, counts: dict[str, int] | None = None,
                  rows: np.ndarray | None = None) -> pd.DataFrame:
        """The feature frame of a raw table (float64 / category, NaN for missing).

        A frame that already holds every feature column (and not the raw columns) is returned
        as is, so the same predictor takes raw files and prepared frames. ``counts`` collects
        ``{column: cells turned missing}`` (inf, unparsable text). ``rows``: the row positions
        to keep, in that order (taken column by column, so a reordered copy of the whole raw
        table never exists; the result has a fresh 0..n-1 index).
        """
        feats = self.feature_names()
        missing_raw = [c for c in self.used if c not in df.columns]
        if missing_raw and all(f in df.columns for f in feats):
            out = df[feats]
            return out if rows is None else out.iloc[rows].reset_index(drop=True)
        if missing_raw:
            from ..errors import DataError

            raise DataError(f"input is missing column{'s' if len(missing_raw) > 1 else ''} {missing_raw[:10]} "
                            f"the model was trained on; add {'them' if len(missing_raw) > 1 else 'it'}")
        index = df.index if rows is None else pd.RangeIndex(len(rows))
        categorical = {c for c in self.used if self.columns[c].kind == "categorical"}
        feats = list(dict.fromkeys(feats))  # a raw column named like a date feature: one column, the last written
        numeric = [f for f in feats if f not in categorical]
        # the numeric features are written into one float64 block (column-major): a model that
        # wants them as one array (HistGradientBoosting) then gets a view, not another copy
        block = np.empty((len(index), len(numeric)), order="F")
        at = {f: j for j, f in enumerate(numeric)}
        cats: dict[str, pd.Categorical] = {}
        for c in self.used:
            spec, s = self.columns[c], df[c]
            if rows is not None:
                s = s.iloc[rows].reset_index(drop=True)
            if spec.kind == "datetime":
                for f, v in date_features(c, parse_datetime(s, spec.formats), spec).items():
                    block[:, at[f]] = v
                continue
            if spec.kind == "categorical":
                cats[c] = self._category(s).array
                continue
            if spec.kind == "boolean" and _is_text(s):
                v = _on_uniques(s, _bool_values).to_numpy(dtype=float)
            elif _is_text(s):
                v = _on_uniques(s, parse_numbers).to_numpy(dtype=float)
            else:
                if isinstance(s.dtype, pd.CategoricalDtype):
                    s = s.astype(s.cat.categories.dtype)
                v = s.to_numpy(dtype=float, na_value=np.nan)
            bad = np.isinf(v)
            lost = int(bad.sum()) + int((np.isnan(v) & s.notna().to_numpy()).sum())
            if counts is not None and lost:
                counts[c] = lost
            block[:, at[c]] = np.where(bad, np.nan, v)
        out = pd.DataFrame(block, index=index, columns=numeric, copy=False)
        with warnings.catch_warnings():  # one insert per category column: a block each, no copies
            warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
            for pos, f in enumerate(feats):
                if f in cats:
                    out.insert(pos, f, cats[f])
        return out

    @staticmethod
    def _category(s: pd.Series) -> pd.Series:
        if isinstance(s.dtype, pd.CategoricalDtype) and not pd.api.types.is_numeric_dtype(s.cat.categories):
            cats = s.cat.categories.astype("string").str.strip()
            if cats.equals(s.cat.categories.astype("string")) and cats.is_unique:
                return s.cat.remove_unused_categories() if len(cats) > 0 else s
        if pd.api.types.is_numeric_dtype(s) or (isinstance(s.dtype, pd.CategoricalDtype)
                                                and pd.api.types.is_numeric_dtype(s.cat.categories)):
            s = pd.Series(s.to_numpy(dtype=float, na_value=np.nan), index=s.index)
            text = s.map(lambda x: None if np.isnan(x) else (str(int(x)) if x == int(x) else str(x)))
            return text.astype("category")
        return _on_uniques(s, lambda u: u.astype("string").str.strip().replace("", pd.NA)).astype("category")

    # -- persistence and display --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "columns": {c: s.to_dict() for c, s in self.columns.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableSchema:
        cols = {}
        for c, s in d["columns"].items():
            if s.get("kind") not in KINDS:
                raise ConfigError(f"schema column {c!r}: unknown kind {s.get('kind')!r}")
            cols[c] = ColumnSpec(kind=s["kind"], note=str(s.get("note", "")), formats=list(s.get("formats", [])),
                                 reference=s.get("reference"), hour=bool(s.get("hour", False)))
        return cls(cols)

    def describe(self, df: pd.DataFrame | None = None, max_rows: int = 60) -> str:
        """A compact table: column, kind, missing %, distinct values, note."""
        rows = []
        for c, spec in self.columns.items():
            miss = card = ""
            if df is not None and c in df.columns:
                s = df[c]
                miss = f"{100 * s.isna().mean():.1f}%"
                card = f"{s.nunique(dropna=True):,}"
            rows.append((str(c), spec.kind, miss, card, spec.note))
        width = min(28, max([6] + [len(r[0]) for r in rows]))
        lines = [f"{'column':<{width}} {'kind':<11} {'missing':>8} {'distinct':>9}  note"]
        shown = rows if len(rows) <= max_rows else rows[:max_rows]
        for name, kind, miss, card, note in shown:
            lines.append(f"{name[:width]:<{width}} {kind:<11} {miss:>8} {card:>9}  {note}")
        if len(rows) > max_rows:
            kinds = pd.Series([r[1] for r in rows[max_rows:]]).value_counts()
            lines.append(f"... {len(rows) - max_rows} more: " + ", ".join(f"{v} {k}" for k, v in kinds.items()))
        return "\n".join(lines)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by the rank-sum (Mann-Whitney) formula, ties averaged; the same value as
    scikit-learn's roc_auc_score, ~4× faster on one 40k-row column (0.019 s against 0.089 s)."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def separating_columns(X: pd.DataFrame, y: np.ndarray, threshold: float = 0.99, max_rows: int = 200_000,
                       seed: int = 0) -> list[tuple[str, float]]:
    """Columns that alone separate a binary ``y`` almost perfectly: ``[(column, ROC-AUC)]``.

    Numeric: the value itself (missing ranked lowest), either direction. Categorical: the
    per-category target rate, learnt on one half of the rows and scored on the other (so a
    near-unique column does not look perfect by memorising). Subsampled to ``max_rows``.
    """
    y = np.asarray(y).astype(int)
    if len(np.unique(y)) < 2:
        return []
    rng = np.random.default_rng(seed)
    idx = np.arange(len(y)) if len(y) <= max_rows else np.sort(rng.choice(len(y), max_rows, replace=False))
    yy = y[idx]
    half = rng.random(len(idx)) < 0.5
    found = []
    for c in X.columns:
        s = X[c].iloc[idx].reset_index(drop=True)
        if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s):
            codes = pd.Series(pd.factorize(s, use_na_sentinel=False)[0])
            rates = pd.Series(yy[half]).groupby(codes[half].to_numpy()).mean()
            score = codes[~half].map(rates).fillna(yy[half].mean()).to_numpy()
            target = yy[~half]
        else:
            v = s.to_numpy(dtype=float, na_value=np.nan)
            finite = np.isfinite(v)
            score = np.where(finite, v, v[finite].min() - 1 if finite.any() else 0.0)
            target = yy
        if len(np.unique(target)) < 2 or len(np.unique(score)) < 2:
            continue
        auc = _auc(target, score)
        auc = max(auc, 1 - auc)
        if auc >= threshold:
            found.append((str(c), round(auc, 4)))
    return found
