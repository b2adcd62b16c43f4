"""Export a saved Predictor to ONNX, TorchScript or torch.export, with a parity check.

``verticalkit export DIR --format onnx|torchscript|torch_export`` writes ``<DIR>/export/<format>/``::

    model.onnx | model.pt | model.pt2
    export.json          inputs, outputs, how to read the score, exporter, parity result
    preprocessing.json   only when a step runs outside the graph (a documented contract)
    manifest.json        SHA-256 of each file above, checked when the export is loaded

The table contract (``preprocessing.json`` with ``"contract": "verticalkit.table/1"``), for
heads whose graph takes tensors built from a table with text columns (string → code
maps cannot run in the graph of every runtime)::

    {"contract": "verticalkit.table/1", "columns": [every input column, in order],
     "null_category": "missing",
     "tensors": [{"name": "num", "dtype": "float32", "columns": [...]},
                 {"name": "cat", "dtype": "int64", "columns": [...],
                  "categories": {"<column>": ["<value>", ...]}, "offset": 1, "unknown": 0}]}

Each tensor is ``(n, len(columns))`` of its ``dtype``. A column listed in ``categories``
is read as text (a null is ``null_category``) and becomes ``offset + i`` where ``i`` is
its position in the list, or ``unknown`` when it is not in the list; any other column
is cast to the dtype (NaN stays NaN: missing). ``run_exported`` / ``ExportedScorer``
apply it (:func:`table_feeds`), so the parity check covers it.

What a head exports (the export protocol):

* torch heads implement ``export_module(self) -> TorchExport``: an ``nn.Module`` from the
  raw model inputs to the scores (wrap the trained module with :class:`ScoresModule`,
  preprocessing inside it where it can be written in torch), example input tensors and
  their names, and ``sample_X`` (the same rows as the head's ``predict`` takes them) for
  the parity check. Steps that cannot go in the graph go in ``preprocessing`` (a JSON dict).
* scikit-learn heads implement ``export_sklearn(self) -> SklearnExport`` (an estimator
  skl2onnx converts, its ``initial_types``, a ``sample_X``). Without it, a head with a
  fitted scikit-learn estimator in ``model_`` trained on the all-numeric table of its
  input schema is exported as ``model_`` over one float32 ``input`` matrix (columns in
  schema order) — the parity check refuses the export if that is not what the head does.

The ONNX graph's output is ``probabilities`` ``(n, k)`` for classification (binary:
``predict_score`` is column 1) and ``score`` ``(n,)`` otherwise.

Torch heads use the TorchScript-based exporter (``dynamo=False``): it needs no extra
package (the dynamo exporter needs onnxscript), exports these small feed-forward graphs
with a dynamic batch axis by ``dynamic_axes``, and is what onnxruntime has been checked
against longest. Floating-point parity tolerance: ``1e-4`` absolute on the scores
(float32 graph vs the float64 / float32 Python path).
"""

from __future__ import annotations

import json
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..errors import ConfigError, ModelLoadError
from ..heads.base import write_json
from ..io import atomic_dir
from ..heads.manifest import verify_manifest, write_manifest
from ..heads.predictor import Predictor
from .schemas import table_columns

FORMATS = ("onnx", "torchscript", "torch_export")
TOLERANCE = 1e-4
OPSET = 17


@dataclass
class TorchExport:
    """What a torch head hands the exporter (see the module docstring)."""

    module: Any  # nn.Module: inputs -> scores
    example_inputs: tuple[Any, ...]
    input_names: list[str]
    sample_X: Any = None  # raw rows for Predictor.predict_score; None: example_inputs[0] as numpy
    output_name: str | None = None  # default "probabilities" (classification) / "score"
    preprocessing: dict[str, Any] | None = None


@dataclass
class SklearnExport:
    """What a scikit-learn head hands skl2onnx."""

    estimator: Any
    initial_types: list[tuple[str, Any]]
    sample_X: Any = None
    to_onnx_inputs: Any = None  # fn(sample_X) -> {input name: array}; default: one float32 matrix
    preprocessing: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=lambda: {"zipmap": False})


def _torch_modules() -> Any:
    import torch
    from torch import nn

    class ScoresModule(nn.Module):
        """``pre`` (optional, e.g. standardisation) → trained module → scores by task kind,
        matching ``TorchHead.outputs_to_scores`` (softmax / sigmoid / identity)."""

        def __init__(self, core: nn.Module, kind: str, pre: nn.Module | None = None):
            super().__init__()
            self.core, self.kind, self.pre = core, kind, pre

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.pre is not None:
                x = self.pre(x)
            out = self.core(x)
            if self.kind in ("binary", "multiclass"):
                return torch.softmax(out.float(), dim=1)
            if self.kind == "multilabel":
                return torch.sigmoid(out.float())
            return out.reshape(out.shape[0], -1)[:, 0] if out.ndim > 1 and out.shape[1] == 1 else out

    class Standardize(nn.Module):
        """``(x - mean) / scale`` with fitted constants baked into the graph."""

        def __init__(self, mean: Any, scale: Any):
            super().__init__()
            self.register_buffer("mean", torch.as_tensor(np.asarray(mean, np.float32)))
            self.register_buffer("scale", torch.as_tensor(np.asarray(scale, np.float32)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x - self.mean) / self.scale

    return ScoresModule, Standardize


def ScoresModule(core: Any, kind: str, pre: Any = None) -> Any:  # noqa: N802 - a class factory
    """The trained module wrapped to output scores (see :func:`_torch_modules`)."""
    return _torch_modules()[0](core, kind, pre)


def Standardize(mean: Any, scale: Any) -> Any:  # noqa: N802
    return _torch_modules()[1](mean, scale)


# -- specs ------------------------------------------------------------------------------------
def sklearn_spec(predictor: Predictor, X_sample: Any = None) -> SklearnExport:
    head = predictor.head
    if hasattr(head, "export_sklearn"):
        spec = head.export_sklearn()
    else:
        from sklearn.base import BaseEstimator
        from skl2onnx.common.data_types import FloatTensorType

        columns = table_columns(predictor.input_schema)
        model = getattr(head, "model_", None)
        numeric = columns is not None and all(np.dtype(t).kind in "fiub" for t in _safe_dtypes(columns))
        if not isinstance(model, BaseEstimator) or not numeric:
            raise ConfigError(f"cannot export head {type(head).__name__} to ONNX: give it an "
                              f"export_sklearn() -> SklearnExport method (see verticalkit.core.serve.export)")
        spec = SklearnExport(model, [("input", FloatTensorType([None, len(columns)]))],
                             preprocessing={"input": "float32 matrix of the table columns, in this order",
                                            "columns": list(columns)})
    if spec.sample_X is None:
        spec.sample_X = X_sample if X_sample is not None else synthetic_sample(predictor)
    return spec


def _safe_dtypes(columns: dict[str, str]) -> list[Any]:
    out = []
    for t in columns.values():
        try:
            out.append(np.dtype(t))
        except TypeError:
            out.append(np.dtype(object))
    return out


def synthetic_sample(predictor: Predictor, n: int = 64, seed: int = 0) -> Any:
    """Rows for the parity check when no data is given: standard normals of the saved schema."""
    rng = np.random.default_rng(seed)
    columns = table_columns(predictor.input_schema)
    if columns is not None:
        return pd.DataFrame({c: rng.normal(size=n).astype(t) for c, t in columns.items()})
    schema = predictor.input_schema
    if schema.get("type") == "array" and all(s is not None for s in schema.get("shape", [None])[1:]):
        return rng.normal(size=(n, *schema["shape"][1:])).astype(schema.get("dtype", "float32"))
    raise ConfigError("no sample inputs to check the export with; pass sample rows (export(..., X_sample=...))")


def torch_spec(predictor: Predictor) -> TorchExport:
    head = predictor.head
    if not hasattr(head, "export_module"):
        raise ConfigError(f"cannot export torch head {type(head).__name__}: give it an export_module() -> "
                          f"TorchExport method (see verticalkit.core.serve.export)")
    spec = head.export_module()
    spec.module.eval()
    if spec.sample_X is None:
        spec.sample_X = spec.example_inputs[0].detach().cpu().numpy()
    if spec.output_name is None:
        spec.output_name = "probabilities" if predictor.task.is_classification else "score"
    return spec


def is_torch_head(predictor: Predictor) -> bool:
    return _is_module(getattr(predictor.head, "module_", None))


def _is_module(obj: Any) -> bool:
    try:
        from torch import nn
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, nn.Module)


# -- export -------------------------------------------------------------------------------------
def export(predictor: Predictor, out: str | Path, fmt: str = "onnx", *, X_sample: Any = None,
           tolerance: float = TOLERANCE, opset: int = OPSET) -> dict[str, Any]:
    """Export ``predictor`` into folder ``out`` (atomically) and check parity; return export.json's dict.

    Raises ConfigError when the exported model's scores differ from the Predictor's by more
    than ``tolerance`` on the sample rows (nothing is written then).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    out = Path(out)
    torch_head = is_torch_head(predictor)
    if fmt != "onnx" and not torch_head:
        raise ConfigError(f"--format {fmt} is for torch heads; {type(predictor.head).__name__} exports to onnx")
    with atomic_dir(out) as tmp:
        if torch_head:
            spec = torch_spec(predictor)
            doc = _export_torch(spec, tmp, fmt, opset)
            sample, extra = spec.sample_X, spec.preprocessing
        else:
            sk = sklearn_spec(predictor, X_sample)
            doc = _export_sklearn(sk, tmp, opset)
            sample, extra = sk.sample_X, sk.preprocessing
        if extra and extra.get("columns"):
            doc["input_columns"] = list(extra["columns"])
        if extra:
            write_json(tmp / "preprocessing.json", extra)
        doc.update({"vertical": predictor.vertical, "model": predictor.model, "dataset": predictor.dataset,
                    "task": predictor.task.to_dict(), "format": fmt,
                    "preprocessing": "preprocessing.json" if extra else "inside the graph",
                    "score": _score_doc(predictor, doc["outputs"][0]["name"])})
        expected = np.asarray(predictor.predict_score(sample), dtype=np.float64)
        got = run_exported(tmp, doc, sample, predictor=predictor)
        diff = float(np.max(np.abs(expected - got))) if expected.size else 0.0
        doc["parity"] = {"n": int(len(expected)), "max_abs_diff": diff, "tolerance": tolerance,
                         "reference": "Predictor.predict_score"}
        if not diff <= tolerance:
            raise ConfigError(f"exported {fmt} model differs from the Predictor by {diff:.3g} > {tolerance} on "
                              f"{len(expected)} sample rows; the head's export hook does not match its predict")
        write_json(tmp / "export.json", doc)
        write_manifest(tmp)
    return doc


def _score_doc(predictor: Predictor, output: str) -> str:
    if predictor.task.kind == "binary":
        return f"{output}[:, 1] = P({predictor.task.classes[1] if len(predictor.task.classes) > 1 else 'positive'})"
    if predictor.task.is_classification:
        return f"{output}: (n, k) probabilities, classes {list(predictor.task.classes)}"
    return f"{output}: predicted value"


def _export_sklearn(spec: SklearnExport, tmp: Path, opset: int) -> dict[str, Any]:
    try:
        from skl2onnx import convert_sklearn
    except ImportError as e:
        raise ConfigError("ONNX export of scikit-learn heads needs skl2onnx: pip install 'verticalkit[onnx]'") from e
    try:
        with _tree_bool_fix():
            onx = convert_sklearn(spec.estimator, initial_types=spec.initial_types, options=spec.options,
                                  target_opset={"": opset, "ai.onnx.ml": 3})
    except (RuntimeError, ValueError, TypeError, NotImplementedError, KeyError) as e:
        raise ConfigError(f"skl2onnx cannot convert {type(spec.estimator).__name__}: {str(e).splitlines()[0][:300]}; "
                          f"give the head an export_sklearn() hook with a convertible estimator") from e
    (tmp / "model.onnx").write_bytes(onx.SerializeToString())
    outputs = [{"name": o.name} for o in onx.graph.output]
    outputs.sort(key=lambda o: o["name"] not in ("probabilities", "variable"))
    return {"file": "model.onnx", "exporter": f"skl2onnx (opset {opset})",
            "inputs": [{"name": n, "type": str(t)} for n, t in spec.initial_types], "outputs": outputs}


@contextmanager
def _tree_bool_fix() -> Iterator[None]:
    """skl2onnx 1.20 passes a Python ``False`` for leaf nodes' ``nodes_missing_value_tracks_true``
    (HistGradientBoosting), which onnx >= 1.17's protobuf refuses ("Expected an int, got a
    boolean"); cast it to int while converting."""
    try:
        import skl2onnx.common.tree_ensemble as te
    except ImportError:  # pragma: no cover
        yield
        return
    orig = te.add_node

    def add_node(*args: Any, **kw: Any) -> Any:
        if "nodes_missing_value_tracks_true" in kw:
            kw["nodes_missing_value_tracks_true"] = int(kw["nodes_missing_value_tracks_true"])
        return orig(*args, **kw)

    te.add_node = add_node
    try:
        yield
    finally:
        te.add_node = orig


def _export_torch(spec: TorchExport, tmp: Path, fmt: str, opset: int) -> dict[str, Any]:
    import torch

    inputs = [{"name": n, "dtype": str(t.dtype).replace("torch.", ""), "shape": ["batch", *t.shape[1:]]}
              for n, t in zip(spec.input_names, spec.example_inputs)]
    outputs = [{"name": spec.output_name}]
    with torch.no_grad(), warnings.catch_warnings():
        # the legacy exporter and torch.jit are chosen on purpose (module docstring)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        if fmt == "onnx":
            axes = {n: {0: "batch"} for n in [*spec.input_names, spec.output_name]}
            torch.onnx.export(spec.module, tuple(spec.example_inputs), str(tmp / "model.onnx"), dynamo=False,
                              input_names=list(spec.input_names), output_names=[spec.output_name],
                              dynamic_axes=axes, opset_version=opset)
            return {"file": "model.onnx", "exporter": f"torch.onnx.export(dynamo=False) opset {opset}",
                    "inputs": inputs, "outputs": outputs}
        if fmt == "torchscript":
            traced = torch.jit.trace(spec.module, tuple(spec.example_inputs))
            traced.save(str(tmp / "model.pt"))
            return {"file": "model.pt", "exporter": "torch.jit.trace", "inputs": inputs, "outputs": outputs}
        batch = torch.export.Dim("batch", min=1)
        ep = torch.export.export(spec.module, tuple(spec.example_inputs),
                                 dynamic_shapes=tuple({0: batch} for _ in spec.example_inputs))
        torch.export.save(ep, str(tmp / "model.pt2"))
        return {"file": "model.pt2", "exporter": "torch.export", "inputs": inputs, "outputs": outputs}


# -- running an export ------------------------------------------------------------------------
class ExportedScorer:
    """An exported model loaded once; ``scorer(X)`` gives ``Predictor.predict_score``-shaped scores.

    ``X`` is given as the Predictor takes it; for sklearn heads the default contract (a
    float32 matrix of the schema columns) is applied, for torch heads ``X`` is the example
    input array. Used by the parity check, ``serve --backend onnx`` and tests.
    """

    def __init__(self, folder: str | Path, doc: dict[str, Any] | None = None, predictor: Predictor | None = None):
        self.folder = Path(folder)
        if doc is None:
            if not (self.folder / "export.json").is_file():
                raise ConfigError(f"{self.folder}: no export.json; run `verticalkit export DIR --format onnx` first")
            verify_manifest(self.folder)
            doc = json.loads((self.folder / "export.json").read_text())
        self.doc, self.predictor = doc, predictor
        self._to_inputs = None  # a head's own input mapping (SklearnExport.to_onnx_inputs)
        self._contract = None  # a table contract in preprocessing.json (module docstring)
        if doc.get("preprocessing") == "preprocessing.json" and (self.folder / "preprocessing.json").is_file():
            pre = json.loads((self.folder / "preprocessing.json").read_text())
            if pre.get("contract") == TABLE_CONTRACT:
                self._contract = pre
        if predictor is not None and hasattr(predictor.head, "export_sklearn") and self._contract is None:
            self._to_inputs = predictor.head.export_sklearn().to_onnx_inputs
        self.kind = (doc.get("task") or {}).get("kind") or (predictor.task.kind if predictor else None)
        file = self.folder / doc["file"]
        if file.suffix == ".onnx":
            try:
                import onnxruntime as ort
            except ImportError as e:
                raise ConfigError("running an ONNX export needs onnxruntime: pip install 'verticalkit[onnx]'") from e
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            self._session = ort.InferenceSession(str(file), opts, providers=["CPUExecutionProvider"])
            self._module = None
        else:
            import torch

            self._session = None
            if file.suffix == ".pt":
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", category=FutureWarning)
                    self._module = torch.jit.load(str(file))
            else:
                self._module = torch.export.load(str(file)).module()

    def __call__(self, X: Any) -> np.ndarray:
        if self._contract is not None and isinstance(X, pd.DataFrame):
            feeds = table_feeds(self._contract, X)
        else:
            feeds = _feeds(self.doc, X, self._to_inputs)
        if self._session is not None:
            out = self._session.run([self.doc["outputs"][0]["name"]], feeds)[0]
        else:
            import torch

            with torch.no_grad():
                out = self._module(*[torch.as_tensor(v) for v in feeds.values()]).numpy()
        out = np.asarray(out, dtype=np.float64)
        return out[:, 1] if self.kind == "binary" and out.ndim == 2 else out


def run_exported(folder: str | Path, doc: dict[str, Any] | None, X: Any, predictor: Predictor | None = None
                 ) -> np.ndarray:
    """Scores of the exported model in ``folder`` on ``X`` (see :class:`ExportedScorer`)."""
    return ExportedScorer(folder, doc, predictor)(X)


TABLE_CONTRACT = "verticalkit.table/1"


def table_feeds(contract: dict[str, Any], X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The input tensors of a ``verticalkit.table/1`` contract (module docstring) from table ``X``."""
    missing = [c for c in contract.get("columns") or [] if c not in X.columns]
    if missing:
        raise ConfigError(f"input is missing column(s) {missing} the exported model needs")
    null = contract.get("null_category", "missing")
    feeds: dict[str, np.ndarray] = {}
    for t in contract["tensors"]:
        dtype = np.dtype(t["dtype"])
        cats = t.get("categories") or {}
        out = np.empty((len(X), len(t["columns"])), dtype=dtype)
        for j, c in enumerate(t["columns"]):
            if c in cats:
                index = {v: t.get("offset", 0) + i for i, v in enumerate(cats[c])}
                unknown = np.nan if t.get("unknown") is None else t["unknown"]
                text = X[c].astype("string").fillna(null).astype(str)
                out[:, j] = text.map(index).fillna(unknown).to_numpy(dtype=np.float64 if dtype.kind == "f"
                                                                      else dtype)
            else:
                out[:, j] = X[c].to_numpy(dtype=np.float64 if dtype.kind == "f" else dtype)
        feeds[t["name"]] = out
    return feeds


def _feeds(doc: dict[str, Any], X: Any, to_inputs: Any = None) -> dict[str, np.ndarray]:
    names = [i["name"] for i in doc["inputs"]]
    if to_inputs is not None:
        return to_inputs(X)
    if isinstance(X, dict):
        return {k: np.asarray(v) for k, v in X.items()}
    if isinstance(X, pd.DataFrame):
        cols = doc.get("input_columns") or list(X.columns)
        return {names[0]: X[cols].to_numpy(dtype=np.float32)}
    arr = np.asarray(X)
    dtype = next((i.get("dtype") for i in doc["inputs"] if i.get("dtype")), "float32")
    return {names[0]: arr.astype(dtype if dtype != "float64" else np.float64)}


def export_run(run_dir: str | Path, fmt: str = "onnx", out: str | Path | None = None, **kw: Any) -> tuple[Path, dict]:
    """Load the Predictor of a run (or model) folder and export it to ``out``
    (default ``<run>/export/<format>``)."""
    from ..heads.predictor import resolve_model_dir

    model_dir = resolve_model_dir(run_dir)
    if not (model_dir / "predictor.json").is_file():
        raise ModelLoadError(f"{run_dir}: no saved model (predictor.json); pass a run directory")
    predictor = Predictor.load(model_dir)
    base = Path(run_dir) if model_dir != Path(run_dir) else model_dir.parent
    dest = Path(out) if out else base / "export" / fmt
    return dest, export(predictor, dest, fmt, **kw)
