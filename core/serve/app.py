"""HTTP serving of a saved Predictor (FastAPI; ``pip install verticalkit[serve]``).

``create_app(DIR)`` loads the model once and offers:

* Open Inference Protocol v2: ``GET /v2/health/live``, ``GET /v2/health/ready``,
  ``GET /v2/models/<name>``, ``GET /v2/models/<name>/ready``, ``POST /v2/models/<name>/infer``
  (inputs: one tensor per table column, each of shape ``[n]``; or one tensor ``input`` of
  shape ``[n, ...]`` for array models);
* ``POST /v1/predict``: ``{"records": [{...}, ...]}`` → score / probabilities, the decision
  at the run's saved threshold (binary), and reason codes from the vertical's ``explain``
  hook (``?explain=true|false``; by default only where the vertical's ``explains`` says the
  model has informative ones); response contract in ``PREDICT_DOC`` / the OpenAPI docs;
* ``/docs`` and ``/openapi.json``;
* ``GET /``: a demo page (form, upload, results) on the same endpoints (:mod:`.serve_page`).

Validation errors are 422 with the fields named, bodies over ``max_body_bytes`` 413, and
when the environment variable ``token_env`` (default ``VERTICALKIT_TOKEN``) is set every
model endpoint needs ``Authorization: Bearer <token>`` (401 otherwise); the health
endpoints stay open for probes. Request bodies are never logged (images and essays may
hold personal data).

Latency: with ``backend="onnx"`` and a table export, /v1/predict builds the export's input
tensors straight from the records (:func:`record_feeds`: no DataFrame), scores small
requests on the event loop (no thread-pool hop), computes reason codes only when asked for,
and writes the response with orjson when it is installed. A request whose records already
have exactly the model's fields and JSON types, with no query string, is answered by
:class:`~verticalkit.core.serve.middleware.RecordsFastPath` before FastAPI's routing and
pydantic, and requests arriving together are scored in one batch; everything else
(including every malformed request) takes the validating route.
uvicorn picks httptools and uvloop when they are installed (``pip install 'verticalkit[serve]'``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, VerticalkitError

try:
    from fastapi import Depends, FastAPI, HTTPException, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ConfigError("serving needs FastAPI and uvicorn: pip install 'verticalkit[serve]'") from e

from .model_input import input_adapter, to_model_input
from ..heads.predictor import Predictor, resolve_model_dir
from ..registry import get_vertical
from .middleware import BodyLimit, RecordsFastPath
from .page import add_demo_page, demo_form
from .schemas import (PredictResponse, V2InferRequest, V2InferResponse, _kind, array_to_v2,
                              check_v2_inputs, coerce_table, record_model, request_model, table_columns,
                              v2_datatype, v2_to_array)

log = logging.getLogger("verticalkit.serve")

DEFAULT_MAX_BODY = 1_000_000  # bytes
DEFAULT_MAX_RECORDS = 10_000
INLINE_RECORDS = 64  # onnx fast path: requests up to this many records are scored on the event loop

try:  # orjson when installed (several times faster on the response); the same JSON values either way
    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
except ImportError:  # pragma: no cover - depends on the environment
    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

PREDICT_DOC = """Score one or more records (fields: the training table's columns, typed; see the `Record` schema).

Response (`PredictResponse`): `model`, `threshold` (binary: the run's saved decision threshold) and
`threshold_source`, and one entry per record in `predictions` with every key present (null when not
applicable): `score` (binary: P(positive); ordinal / regression: the prediction), `probabilities`
(class → probability, multi-class / multi-label), `scores` (output → value, multi-output, e.g. essay
traits; null where an output does not apply), `decision` (binary: 1 when score ≥ threshold),
`label`, `reasons` (reason codes from the vertical's explain hook).

`?explain=true` always computes reason codes, `?explain=false` never; without the flag they are computed
only for models whose reason codes the vertical's `explains` hook calls informative (e.g. a
scorecard; other heads say why they have none when asked). With `--backend onnx` and a table export, records go straight into
the exported model's input tensors (no DataFrame); the scores equal the Predictor's within the
export's parity tolerance (export.json)."""


def load_threshold(run_or_model_dir: str | Path, predictor: Predictor) -> tuple[float | None, str | None]:
    """The binary decision threshold: the run's cost threshold (chosen on validation) when
    ``metrics.json`` has one, else ``predictor.info["threshold"]``, else 0.5."""
    if predictor.task.kind != "binary":
        return None, None
    d = Path(run_or_model_dir)
    for mj in (d / "metrics.json", d.parent / "metrics.json"):
        if mj.is_file():
            th = json.loads(mj.read_text()).get("thresholds") or {}
            for method in ("cost", "youden", "target_sensitivity"):
                if isinstance(th.get(method), dict) and th[method].get("threshold") is not None:
                    return float(th[method]["threshold"]), f"{mj.name}: {method} ({th.get('chosen_on', '?')})"
    if predictor.info.get("threshold") is not None:
        return float(predictor.info["threshold"]), "predictor info"
    return 0.5, "default 0.5"


def create_app(model_dir: str | Path, *, token_env: str = "VERTICALKIT_TOKEN", token: str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY, max_records: int = DEFAULT_MAX_RECORDS,
               backend: str = "predictor", export_dir: str | Path | None = None) -> FastAPI:
    """The FastAPI app serving the Predictor saved in ``model_dir`` (a run or model folder).

    token: the bearer token; None reads ``os.environ[token_env]`` (unset or empty: no auth).
    backend: ``predictor`` (the Python head) or ``onnx`` (onnxruntime on the parity-checked
    export in ``export_dir``, default ``<run>/export/onnx``; the explain hook still uses the
    Predictor).
    """
    predictor = Predictor.load(resolve_model_dir(model_dir))
    scorer = _backend(predictor, model_dir, backend, export_dir)
    vertical = get_vertical(predictor.vertical)
    threshold, threshold_source = load_threshold(model_dir, predictor)
    token = (token if token is not None else os.environ.get(token_env)) or None  # "" = no auth
    name = f"{predictor.vertical}-{predictor.model}"
    columns = table_columns(predictor.input_schema)
    raw_adapter = input_adapter(predictor)  # records may come in the dataset's own fields (model_input.py)
    Record = record_model(columns if vertical.request_to_input is None and raw_adapter is None else None,
                          vertical.serve_example)
    PredictRequest = request_model(Record, max_records)
    classes = [str(c) for c in predictor.task.classes]
    kind, is_classification = predictor.task.kind, predictor.task.is_classification
    feeds_of = (record_feeds(scorer, columns) if backend == "onnx" and vertical.request_to_input is None
                and raw_adapter is None else None)
    default_reasons = vertical.explains(predictor) if vertical.explains is not None else True

    app = FastAPI(title=f"verticalkit · {name}", version=str(predictor.info.get("version", "1")),
                  description=f"{vertical.description}. Model {predictor.model} trained on {predictor.dataset} "
                              f"({predictor.task.kind} task).")
    app.state.predictor = predictor
    app.state.record_feeds = feeds_of is not None  # the onnx fast path is on

    async def check_token(request: Request) -> None:  # async: no thread-pool hop per request
        if token is None:
            return
        auth = request.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token (header: Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    auth_deps = [Depends(check_token)] if token is not None else []  # none: no per-request dependency

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body",
                 "error": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"error": "invalid request", "fields": errs[:50]})

    @app.exception_handler(VerticalkitError)
    async def _bad_input(request: Request, exc: VerticalkitError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": str(exc)})

    # -- health and metadata --------------------------------------------------------------
    @app.get("/v2/health/live", tags=["health"])
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["health"])
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    def _model(model_name: str) -> None:
        if model_name != name:
            raise HTTPException(404, f"unknown model {model_name!r}; this server serves {name!r}")

    @app.get("/v2/models/{model_name}", tags=["v2"], dependencies=auth_deps)
    def metadata(model_name: str) -> dict[str, Any]:
        _model(model_name)
        if columns is not None:
            inputs = [{"name": c, "datatype": v2_datatype(t), "shape": [-1]} for c, t in columns.items()]
        else:
            shape = predictor.input_schema.get("shape") or [None]
            inputs = [{"name": "input", "datatype": v2_datatype(predictor.input_schema.get("dtype", "float32")),
                       "shape": [-1 if s is None else s for s in shape]}]
        k = 1 if predictor.task.kind in ("binary", "regression", "ordinal") else max(len(classes), 1)
        return {"name": name, "versions": ["1"], "platform": "verticalkit", "inputs": inputs,
                "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1] if k == 1 else [-1, k]}],
                "parameters": {"vertical": predictor.vertical, "dataset": predictor.dataset,
                               "task": predictor.task.kind, "classes": classes, "threshold": threshold}}

    @app.get("/v2/models/{model_name}/ready", tags=["v2"], dependencies=auth_deps)
    def model_ready(model_name: str) -> dict[str, Any]:
        _model(model_name)
        return {"name": name, "ready": True}

    @app.post("/v2/models/{model_name}/infer", tags=["v2"], response_model=V2InferResponse,
              dependencies=auth_deps)
    def infer(model_name: str, req: V2InferRequest) -> V2InferResponse:
        _model(model_name)
        check_v2_inputs(req.inputs, columns, predictor.input_schema)
        arrays = {t.name: v2_to_array(t) for t in req.inputs}
        if columns is not None:
            missing = [c for c in columns if c not in arrays]
            if missing:
                raise DataError(f"inputs: missing tensor(s) {missing}; send one tensor per column of {list(columns)}")
            n = {len(a) for a in arrays.values()}
            if len(n) != 1:
                raise DataError(f"inputs: column tensors have different lengths {sorted(n)}")
            X, ok, reasons = coerce_table(pd.DataFrame({c: arrays[c].reshape(-1) for c in columns}), columns,
                                          where="inputs")
            if not ok.all():
                raise DataError(f"inputs: row {int(np.flatnonzero(~ok)[0])}: {reasons[0]}")
        else:
            if "input" not in arrays:
                raise DataError("inputs: send one tensor named 'input' of shape [n, ...]")
            X = arrays["input"]
        scores = _predict(X)
        outs = [array_to_v2("score", scores.astype(np.float64))]
        if threshold is not None:
            outs.append(array_to_v2("decision", (scores >= threshold).astype(np.int64)))
        return V2InferResponse(model_name=name, model_version="1", id=req.id, outputs=outs)

    # -- friendly JSON --------------------------------------------------------------------
    def to_table(records: list[dict[str, Any]]) -> Any:
        """Records → the Predictor's input (the vertical's hook, or the schema-typed table)."""
        if vertical.request_to_input is not None:
            return vertical.request_to_input(records)
        if raw_adapter is not None:
            frame = to_model_input(predictor, pd.DataFrame.from_records(records), raw_adapter)
        else:
            frame = pd.DataFrame.from_records(records, columns=list(columns or {}))
        X, ok, why = coerce_table(frame, columns or {}, where="records")
        if not ok.all():
            raise DataError(f"records.{int(np.flatnonzero(~ok)[0])}: {why[0]}")
        return X

    def score_records(records: list[dict[str, Any]], want_reasons: bool) -> bytes:
        X = None
        if feeds_of is not None:  # onnx export: records → input tensors, no DataFrame
            preds = plain_predictions(records)
        else:
            X = to_table(records)
            preds = [_prediction(s) for s in _predict(X).tolist()]
        reasons = None
        if want_reasons:
            reasons = vertical.explain(predictor, to_table(records) if X is None else X)
        if reasons is not None:
            for p, r in zip(preds, reasons):
                p["reasons"] = list(r)
        return render(preds)

    def render(preds: list[dict[str, Any]]) -> bytes:
        return dumps({"model": name, "threshold": threshold, "threshold_source": threshold_source,
                      "predictions": preds})

    def plain_predictions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records → one prediction each, no reason codes (the fast path; ``feeds_of`` is set)."""
        return [_prediction(s) for s in _predict(feeds_of(records)).tolist()]

    def _prediction(s: Any) -> dict[str, Any]:
        p: dict[str, Any] = {"score": None, "probabilities": None, "scores": None, "decision": None, "label": None,
                             "reasons": None}
        if kind == "binary":
            d = int(s >= threshold)
            p.update(score=float(s), decision=d, label=classes[d] if len(classes) == 2 else str(d))
        elif is_classification:
            names = classes if len(classes) == len(s) else [str(j) for j in range(len(s))]
            p["probabilities"] = {c: float(v) for c, v in zip(names, s)}
            if kind == "multiclass":
                p["label"] = names[int(np.argmax(s))]
        elif kind == "multioutput":  # one value per output (essay traits); NaN: not scored for this input
            names = classes if len(classes) == len(s) else [str(j) for j in range(len(s))]
            p["scores"] = {c: None if v != v else float(v) for c, v in zip(names, s)}
        else:
            p["score"] = float(s)
        return p

    async def predict(req: Any, explain: bool | None = Query(
            None, description="reason codes: true always asks the vertical's explain hook, false never; "
                              "omitted: only for models whose reason codes are informative (fraud: the "
                              "scorecard head)")) -> Response:
        records = [r.model_dump(by_alias=True) for r in req.records]
        want = vertical.explain is not None and (explain if explain is not None else default_reasons)
        if feeds_of is not None and not want and len(records) <= INLINE_RECORDS:
            body = score_records(records, want)  # well under 1 ms: no thread hop, no pool contention
        else:
            body = await run_in_threadpool(score_records, records, want)
        return Response(body, media_type="application/json")

    predict.__annotations__["req"] = PredictRequest  # a model built at run time from the saved schema
    app.add_api_route("/v1/predict", predict, methods=["POST"], tags=["predict"], response_model=PredictResponse,
                      dependencies=auth_deps,
                      summary="score records: probability / score, decision at the saved threshold, reasons",
                      description=PREDICT_DOC)

    add_demo_page(app, name=name, title=app.title, form=demo_form(vertical.demo, columns is not None),
                  example=vertical.serve_example, explain=vertical.demo_explain and vertical.explain is not None)
    from .monitor import add_monitor_route

    add_monitor_route(app, model_dir, PredictRequest, to_table, auth_deps)  # POST /v1/monitor

    def _predict(X: Any) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            scores = np.asarray(scorer(X))
        except VerticalkitError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise DataError(f"the model could not score this input: {str(e).splitlines()[0][:300]}") from e
        log.debug("scored %d rows in %.1f ms", len(scores), 1e3 * (time.perf_counter() - t0))
        return scores

    # Middleware: the last added is the outermost. Plain records skip FastAPI when nothing but
    # scores is asked for (no reason codes by default); the body limit applies to everything.
    app.state.fast_path = feeds_of is not None and not (vertical.explain is not None and default_reasons)
    if app.state.fast_path:
        app.add_middleware(RecordsFastPath, predict=plain_predictions, render=render, columns=columns,
                           max_records=min(max_records, INLINE_RECORDS), token=token)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


def record_feeds(scorer: Any, columns: dict[str, str] | None) -> Callable[[list[dict[str, Any]]], dict] | None:
    """A function turning validated /v1/predict records into the export's input tensors, or None
    when the export takes something else.

    Table contract (``verticalkit.table/1``): ``num`` float32 values, ``cat`` int64 codes (1 +
    position in the column's categories, the contract's ``unknown`` code otherwise), exactly as
    :func:`verticalkit.core.serve.export.table_feeds` builds them from a DataFrame; a plain export
    whose ``input_columns`` are the numeric schema columns: one float32 matrix.
    """
    if columns is None or getattr(scorer, "_to_inputs", None) is not None:
        return None
    contract = getattr(scorer, "_contract", None)
    if contract is not None:
        null = contract.get("null_category", "missing")
        plans: list[tuple[str, Any, list[tuple[str, dict[str, int] | None, int]]]] = []
        for t in contract["tensors"]:
            cats = t.get("categories") or {}
            if any(c not in columns for c in t["columns"]) or (cats and t.get("unknown") is None):
                return None
            cols = [(c, {v: t.get("offset", 0) + i for i, v in enumerate(cats[c])} if c in cats else None,
                     t.get("unknown", 0)) for c in t["columns"]]
            plans.append((t["name"], np.dtype(t["dtype"]), cols))

        def code(v: Any, index: dict[str, int], unknown: int) -> int:
            return index.get(v if isinstance(v, str) else null if v is None else str(v), unknown)

        def feeds(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
            return {name: np.array([[r[c] if index is None else code(r[c], index, unk) for c, index, unk in cols]
                                    for r in records], dtype=dtype) for name, dtype, cols in plans}

        return feeds
    doc = getattr(scorer, "doc", None) or {}
    if doc.get("input_columns") == list(columns) and all(_kind(t) in "fiub" for t in columns.values()) \
            and len(doc.get("inputs") or []) == 1:
        input_name, cols = doc["inputs"][0]["name"], list(columns)
        return lambda records: {input_name: np.array([[r[c] for c in cols] for r in records], dtype=np.float32)}
    return None


def _backend(predictor: Predictor, model_dir: str | Path, backend: str, export_dir: str | Path | None) -> Any:
    if backend == "predictor":
        return predictor.predict_score
    if backend != "onnx":
        raise ConfigError(f"--backend must be predictor or onnx, got {backend!r}")
    from .export import ExportedScorer

    run = Path(model_dir)
    base = run.parent if (run / "predictor.json").is_file() else run  # a model folder, or its run folder
    folder = Path(export_dir) if export_dir else base / "export" / "onnx"
    scorer = ExportedScorer(folder, predictor=predictor)
    doc = scorer.doc
    if (doc.get("vertical"), doc.get("model")) != (predictor.vertical, predictor.model):
        raise ConfigError(f"{folder}: export of {doc.get('vertical')}/{doc.get('model')}, not of the served "
                          f"{predictor.vertical}/{predictor.model}; re-run verticalkit export")
    return scorer


SERVE_ARGS_ENV = "VERTICALKIT_SERVE_ARGS"


def app_from_env() -> FastAPI:
    """uvicorn app factory for ``serve(workers=n)``: each worker process builds the app from the
    ``create_app`` keyword arguments in ``$VERTICALKIT_SERVE_ARGS`` (JSON)."""
    kw = json.loads(os.environ[SERVE_ARGS_ENV])
    return create_app(kw.pop("model_dir"), **kw)


def serve(model_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, *, token_env: str = "VERTICALKIT_TOKEN",
          max_body_bytes: int = DEFAULT_MAX_BODY, log_level: str = "info", backend: str = "predictor",
          access_log: bool = True, workers: int = 1) -> None:
    """Run the app with uvicorn (blocks). Binds loopback unless ``host`` says otherwise.

    uvicorn uses httptools and uvloop when installed; ``access_log=False`` drops the
    per-request access line (method, path, status: never the body). ``workers > 1`` runs
    that many processes on the port (each loads the model; verticals must be installed
    as entry points, as a spawned worker does not see ``register()`` calls of this one).
    """
    try:
        import uvicorn
    except ImportError as e:  # pragma: no cover
        raise ConfigError("serving needs uvicorn: pip install 'verticalkit[serve]'") from e
    kw = {"token_env": token_env, "max_body_bytes": max_body_bytes, "backend": backend}
    app = create_app(model_dir, **kw)  # also checks the model and export before any worker starts
    if host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get(token_env):
        log.warning("serving on %s without a bearer token: set %s to require one", host, token_env)
    print(f"serving {app.title} on http://{host}:{port}  (docs: /docs)" + (f", {workers} workers" if workers > 1 else ""))
    if workers > 1:
        os.environ[SERVE_ARGS_ENV] = json.dumps({"model_dir": str(model_dir), **kw})
        uvicorn.run("verticalkit.core.serve.app:app_from_env", factory=True, workers=workers, host=host, port=port,
                    log_level=log_level, access_log=access_log)
    else:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)
