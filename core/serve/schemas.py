"""Request / response shapes for serving, and the row checks shared with batch scoring.

* :func:`coerce_table`: cast a DataFrame to a predictor's saved table schema, row by
  row; rows whose values do not convert are reported (not fatal), a missing column is.
* :func:`record_model`: a pydantic model of one input record built from the saved
  schema, so FastAPI's validation errors name the field (``records.3.amount``).
* Open Inference Protocol v2 request / response models.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

from ..errors import DataError

# OIP v2 tensor datatypes → numpy dtypes.
V2_DTYPES: dict[str, Any] = {
    "BOOL": np.bool_, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": object,
}


def v2_datatype(dtype: Any) -> str:
    """The OIP v2 datatype name of a numpy / pandas dtype (strings → BYTES)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return "BYTES"
    if dt.kind in "OUS":
        return "BYTES"
    for name, np_type in V2_DTYPES.items():
        if np_type is not object and dt == np.dtype(np_type):
            return name
    return "BYTES"


@lru_cache(maxsize=256)
def _kind(dtype: str) -> str:
    """'f' float, 'i' integer, 'b' bool, 'O' anything else (strings, categories)."""
    try:
        return np.dtype(dtype).kind if np.dtype(dtype).kind in "fiub" else "O"
    except TypeError:
        return "O"


def table_columns(schema: dict[str, Any] | None) -> dict[str, str] | None:
    """``{column: dtype}`` of a saved table schema, or None when the model takes no table."""
    if schema and schema.get("type") == "table" and isinstance(schema.get("columns"), dict):
        return dict(schema["columns"])
    return None


def coerce_table(df: pd.DataFrame, columns: dict[str, str], *, where: str = "input"
                 ) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Cast ``df`` to the schema ``columns`` (in order).

    Returns ``(clean, ok, reasons)``: ``clean`` holds the rows that convert (schema
    dtypes), ``ok`` is a boolean mask over ``df``'s rows, ``reasons`` one message per
    bad row naming the column and the value (text in a numeric column, a fraction in an
    integer one, ±inf anywhere: the one check both serving backends and batch scoring
    share). A missing column raises DataError.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}; the model was trained on columns {list(columns)}")
    dtypes = df.dtypes
    if all(_compatible(dtypes[c], t) for c, t in columns.items()) and not any(
            dtypes[c].kind == "f" and np.isinf(df[c].to_numpy()).any() for c in columns
            if isinstance(dtypes[c], np.dtype)):  # fast path: nothing to check per row
        sub = df[list(columns)]
        cast = {c: t for c, t in columns.items() if str(dtypes[c]) != t}
        sub = sub.astype(cast) if cast else sub
        if not isinstance(sub.index, pd.RangeIndex) or sub.index.start != 0:
            sub = sub.reset_index(drop=True)
        return sub, np.ones(len(df), dtype=bool), []
    ok = np.ones(len(df), dtype=bool)
    why: list[list[str]] = [[] for _ in range(len(df))]
    out: dict[str, pd.Series] = {}
    for col, dtype in columns.items():
        s = df[col]
        kind = _kind(dtype)
        if kind in "fiub" and s.dtype.kind not in "fiub":
            num = pd.to_numeric(s, errors="coerce")
            bad = num.isna().to_numpy() & s.notna().to_numpy()
            if kind in "iu":  # integers: NaN (empty) cannot be an int either
                bad |= num.isna().to_numpy()
            for j in np.flatnonzero(bad):
                why[j].append(f"column {col!r}: {s.iloc[j]!r} is not a number")
            ok &= ~bad
            s = num
        elif kind in "iu" and s.dtype.kind == "f":
            bad = s.isna().to_numpy() | (s.fillna(0) != np.round(s.fillna(0))).to_numpy()
            for j in np.flatnonzero(bad):
                why[j].append(f"column {col!r}: {s.iloc[j]!r} is not an integer")
            ok &= ~bad
        if kind == "f" and getattr(s.dtype, "kind", "O") == "f":  # every backend refuses ±inf alike
            bad = np.isinf(s.to_numpy(dtype=float, na_value=np.nan))
            for j in np.flatnonzero(bad):
                why[j].append(f"column {col!r}: {s.iloc[j]!r} is not a finite number")
            ok &= ~bad
        out[col] = s
    clean = pd.DataFrame(out, index=df.index)[ok]
    for col, dtype in columns.items():
        if _kind(dtype) != "O":
            try:
                clean[col] = clean[col].astype(dtype)
            except (TypeError, ValueError):
                pass  # keep the numeric dtype pandas chose
    return clean.reset_index(drop=True), ok, ["; ".join(w) for w, good in zip(why, ok) if not good]


def _compatible(have: Any, want: str) -> bool:
    """Whether a column of dtype ``have`` casts to schema dtype ``want`` without per-row checks."""
    kind = _kind(want)
    have_kind = getattr(have, "kind", "O") if isinstance(have, np.dtype) else "O"
    if kind == "f":
        return have_kind in "fiub"
    if kind in "iub":
        return have_kind == kind or (kind == "i" and have_kind in "ub")
    return str(have) == want


# -- friendly /v1/predict ---------------------------------------------------------------
_PY_TYPES = {"f": float, "i": int, "u": int, "b": bool}
INT64 = (-2 ** 63, 2 ** 63 - 1)


def _field_spec(kind: str) -> dict[str, Any]:
    """Strict JSON types (no ``true`` / ``"1.5"`` for a number, no number for a string), finite
    floats and integers that fit int64: what /v1/predict, /v2 and the fast path all accept."""
    if kind == "f":
        return {"strict": True, "allow_inf_nan": False}
    if kind in "iu":
        return {"strict": True, "ge": 0 if kind == "u" else INT64[0], "le": INT64[1]}
    return {"strict": True}


def record_model(columns: dict[str, str] | None, example: dict[str, Any] | None = None) -> type[BaseModel]:
    """A pydantic model of one record: typed, required fields from the table schema.

    Extra fields are refused (a typo in a field name is an error, not a silent default), and
    values must have the column's JSON type exactly (:func:`_field_spec`).
    Without a table schema, any JSON object is accepted and the vertical's
    ``request_to_input`` hook checks it.
    """
    cfg = ConfigDict(extra="forbid", json_schema_extra={"examples": [example]} if example else None)
    if columns is None:
        return create_model("Record", __config__=ConfigDict(extra="allow",
                            json_schema_extra={"examples": [example]} if example else None))
    fields: dict[str, Any] = {}
    for col, dtype in columns.items():
        kind = _kind(dtype)
        alias = {"alias": col} if _safe(col) != col else {}
        fields[_safe(col)] = (_PY_TYPES.get(kind, str), Field(..., **alias, **_field_spec(kind)))
    return create_model("Record", __config__=ConfigDict(**cfg, populate_by_name=True), **fields)


def _safe(name: str) -> str:
    """A Python identifier for a column name (aliases keep the real name on the wire)."""
    s = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(name))
    if not s or s[0].isdigit() or s.startswith("_"):
        s = "f" + s
    return s


def request_model(record: type[BaseModel], max_records: int) -> type[BaseModel]:
    return create_model("PredictRequest", __config__=ConfigDict(extra="forbid"),
                        records=(list[record], Field(..., min_length=1, max_length=max_records,
                                                     description="input records, one per prediction")))


class Prediction(BaseModel):
    score: float | None = Field(None, description="P(positive) for binary tasks; the predicted value for "
                                                  "ordinal / regression tasks")
    probabilities: dict[str, float] | None = Field(None, description="class → probability (multi-class / "
                                                                     "multi-label)")
    scores: dict[str, float | None] | None = Field(None, description="output → value (multi-output, e.g. essay "
                                                                    "traits; null: not scored for this input)")
    decision: int | None = Field(None, description="binary: 1 when score ≥ threshold")
    label: str | None = None
    reasons: list[Any] | None = Field(None, description="reason codes from the vertical's explain hook")


class PredictResponse(BaseModel):
    model: str
    threshold: float | None
    threshold_source: str | None
    predictions: list[Prediction]


# -- Open Inference Protocol v2 ------------------------------------------------------------
class V2Tensor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    shape: list[Annotated[int, Field(strict=True, ge=0)]] = Field(..., min_length=1)
    datatype: Literal["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
                      "FP16", "FP32", "FP64", "BYTES"]
    data: list[Any]
    parameters: dict[str, Any] | None = None


class V2InferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    inputs: list[V2Tensor] = Field(..., min_length=1)
    outputs: list[dict[str, Any]] | None = None
    parameters: dict[str, Any] | None = None


class V2InferResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    outputs: list[V2Tensor]


def v2_to_array(t: V2Tensor) -> np.ndarray:
    """A v2 tensor as a numpy array of its shape; DataError naming the tensor when its values
    do not have its datatype's JSON type (finite numbers, integers in range, booleans, strings)
    or do not fill its shape."""
    n = math.prod(t.shape)
    flat = _flatten(t.data)
    if len(flat) != n:
        raise DataError(f"inputs[{t.name}]: shape {t.shape} needs {n} values, got {len(flat)}")
    ok, what = _V2_VALUE[t.datatype[:2] if t.datatype[:2] in ("FP", "IN", "UI") else t.datatype]
    dtype = np.dtype(V2_DTYPES[t.datatype])
    lo, hi = (np.iinfo(dtype).min, np.iinfo(dtype).max) if dtype.kind in "iu" else (None, None)
    for i, v in enumerate(flat):
        if not ok(v):
            raise DataError(f"inputs[{t.name}]: value {i} ({str(v)[:40]!r}) is not {what}, as {t.datatype} data must be")
        if lo is not None and not lo <= v <= hi:
            raise DataError(f"inputs[{t.name}]: value {i} ({v}) is outside the {t.datatype} range [{lo}, {hi}]")
    return np.asarray(flat, dtype=dtype).reshape(t.shape)


_V2_VALUE: dict[str, tuple[Any, str]] = {
    "FP": (lambda v: (type(v) is float and math.isfinite(v)) or type(v) is int, "a finite number"),
    "IN": (lambda v: type(v) is int, "an integer"),
    "UI": (lambda v: type(v) is int, "an integer"),
    "BOOL": (lambda v: type(v) is bool, "a boolean"),
    "BYTES": (lambda v: type(v) is str, "a string"),
}

# Datatypes a table column of each kind accepts on /v2 (the metadata endpoint names the exact one).
_V2_FOR_KIND = {"f": ("FP", "IN", "UI"), "i": ("IN", "UI"), "u": ("IN", "UI"), "b": ("BOOL",), "O": ("BYTES",)}


def check_v2_inputs(tensors: list[V2Tensor], columns: dict[str, str] | None,
                    schema: dict[str, Any] | None = None) -> None:
    """Refuse (DataError naming the tensor) what a model cannot take: unknown or repeated
    tensor names, a datatype that does not fit the column (or the numeric array the model
    takes), a shape other than ``[n]`` (table columns) or ``[n, *schema shape]`` (array
    models), an empty batch. ``schema``: the predictor's saved input schema."""
    schema = schema or {}
    numeric_array = schema.get("type") == "array" and _kind(str(schema.get("dtype"))) in "fiu"
    names = [t.name for t in tensors]
    expected = list(columns) if columns is not None else ["input"]
    for name in names:
        if name not in expected:
            raise DataError(f"inputs: unknown tensor {name!r}; this model takes {expected}")
        if names.count(name) > 1:
            raise DataError(f"inputs: tensor {name!r} sent twice")
    for t in tensors:
        if columns is not None:
            kind = _kind(columns[t.name])
            if not t.datatype.startswith(_V2_FOR_KIND[kind]):
                want = "BYTES" if kind == "O" else "BOOL" if kind == "b" else "a numeric datatype"
                raise DataError(f"inputs[{t.name}]: datatype {t.datatype} does not fit column {t.name!r} "
                                f"({columns[t.name]}); send {want}")
            if len(t.shape) != 1:
                raise DataError(f"inputs[{t.name}]: shape {t.shape}; a column tensor has shape [n]")
        else:
            if numeric_array and t.datatype in ("BYTES", "BOOL"):
                raise DataError(f"inputs[{t.name}]: datatype {t.datatype}; this model takes a numeric tensor")
            want = list(schema.get("shape") or []) if schema.get("type") == "array" else []
            if want and (len(t.shape) != len(want) or any(w is not None and w != s
                                                          for w, s in zip(want[1:], t.shape[1:]))):
                raise DataError(f"inputs[{t.name}]: shape {t.shape}; this model takes "
                                f"{['n' if w is None else w for w in want]}")
        if t.shape[0] < 1:
            raise DataError(f"inputs[{t.name}]: shape {t.shape}; send at least one row")


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in data:
        if isinstance(v, list):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def array_to_v2(name: str, arr: np.ndarray) -> V2Tensor:
    arr = np.asarray(arr)
    return V2Tensor(name=name, shape=list(arr.shape) or [1], datatype=v2_datatype(arr.dtype),
                    data=arr.reshape(-1).tolist())
