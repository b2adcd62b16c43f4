"""HTTP serving (core/serve/app.py) with FastAPI's TestClient: OIP v2, /v1/predict, validation, limits, auth."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="serving tests need FastAPI (pip install 'verticalkit[serve]')")
pytest.importorskip("httpx", reason="serving tests need httpx (pip install 'verticalkit[serve]')")
from fastapi.testclient import TestClient  # noqa: E402

from verticalkit.core.heads.predictor import Predictor  # noqa: E402
from verticalkit.core.train.run import input_schema  # noqa: E402
from verticalkit.core.serve.app import create_app  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from serve_load import malformed_requests, valid_request  # noqa: E402

X_NEW = pd.DataFrame({"a": [1.0, -1.0, 0.2], "b": [2.0, 0.5, -0.1]})
NAME = "toy-logreg"


@pytest.fixture
def run_dir(toy, tmp_path):
    from toy_vertical import LogReg

    s = toy.tiny_data(0)
    Predictor(LogReg().fit(s.train.X, s.train.y), vertical="toy", model="logreg", dataset="toy", task=s.task,
              input_schema=input_schema(s.train.X)).save(tmp_path / "run" / "model")
    return tmp_path / "run"


def predictor_of(run_dir) -> Predictor:
    return Predictor.load(run_dir / "model")


def records(df: pd.DataFrame) -> list[dict]:
    return df.to_dict("records")


def test_health_metadata_docs(run_dir):
    c = TestClient(create_app(run_dir, token=""))
    assert c.get("/v2/health/live").json() == {"live": True}
    assert c.get("/v2/health/ready").json() == {"ready": True}
    meta = c.get(f"/v2/models/{NAME}").json()
    assert [i["name"] for i in meta["inputs"]] == ["a", "b"] and meta["inputs"][0]["datatype"] == "FP64"
    assert c.get("/v2/models/other").status_code == 404
    spec = c.get("/openapi.json").json()
    assert "/v1/predict" in spec["paths"] and f"/v2/models/{{model_name}}/infer" in spec["paths"]
    assert set(spec["components"]["schemas"]["Record"]["properties"]) == {"a", "b"}
    assert c.get("/docs").status_code == 200


def test_predict_matches_predictor_and_saved_threshold(run_dir):
    (run_dir / "metrics.json").write_text(json.dumps(
        {"thresholds": {"chosen_on": "validation", "cost": {"threshold": 0.6}, "default_0.5": {"threshold": 0.5}}}))
    c = TestClient(create_app(run_dir, token=""))
    r = c.post("/v1/predict", json={"records": records(X_NEW)})
    assert r.status_code == 200, r.text
    body = r.json()
    want = predictor_of(run_dir).predict_score(X_NEW)
    got = np.array([p["score"] for p in body["predictions"]])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert body["threshold"] == 0.6 and "cost" in body["threshold_source"]
    assert [p["decision"] for p in body["predictions"]] == [int(s >= 0.6) for s in want]
    assert [p["label"] for p in body["predictions"]] == [["neg", "pos"][int(s >= 0.6)] for s in want]
    assert all(p["reasons"] is None for p in body["predictions"])


def test_v2_infer_matches_predictor(run_dir):
    c = TestClient(create_app(run_dir, token=""))
    req = {"id": "42", "inputs": [{"name": col, "shape": [3], "datatype": "FP64", "data": X_NEW[col].tolist()}
                                  for col in ["b", "a"]]}
    r = c.post(f"/v2/models/{NAME}/infer", json=req)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert r.json()["id"] == "42" and out["score"]["shape"] == [3]
    np.testing.assert_allclose(out["score"]["data"], predictor_of(run_dir).predict_score(X_NEW), rtol=1e-12)
    assert out["decision"]["data"] == [int(s >= 0.5) for s in out["score"]["data"]]
    bad = c.post(f"/v2/models/{NAME}/infer", json={"inputs": [{"name": "a", "shape": [3], "datatype": "FP64",
                                                               "data": [1.0, 2.0, 3.0]}]})
    assert bad.status_code == 422 and "'b'" in bad.json()["error"]


@pytest.mark.parametrize("record, field", [({"a": "x", "b": 1.0}, "records.0.a"), ({"a": 1.0}, "records.0.b"),
                                           ({"a": 1.0, "b": 2.0, "c": 3}, "records.0.c")])
def test_validation_names_the_field(run_dir, record, field):
    c = TestClient(create_app(run_dir, token=""))
    r = c.post("/v1/predict", json={"records": [{"a": 0.0, "b": 0.0}, record][1:]})
    assert r.status_code == 422
    assert field in [f["field"] for f in r.json()["fields"]]


def test_body_limit(run_dir):
    c = TestClient(create_app(run_dir, token="", max_body_bytes=2_000))
    big = {"records": records(pd.DataFrame({"a": np.zeros(200), "b": np.zeros(200)}))}
    assert c.post("/v1/predict", json=big).status_code == 413

    def chunks():  # no Content-Length: the streamed body is counted
        for _ in range(10):
            yield b" " * 500

    assert c.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"}).status_code == 413
    assert c.post("/v1/predict", json={"records": records(X_NEW)}).status_code == 200


def test_bearer_token(run_dir, monkeypatch):
    monkeypatch.setenv("VERTICALKIT_TOKEN", "s3cret")
    c = TestClient(create_app(run_dir))
    body = {"records": records(X_NEW)}
    assert c.post("/v1/predict", json=body).status_code == 401
    assert c.post("/v1/predict", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.get(f"/v2/models/{NAME}").status_code == 401
    assert c.post("/v1/predict", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/v2/health/ready").status_code == 200  # probes stay open


def test_explain_hook_gives_reasons(run_dir, toy):
    def explain(predictor, X):
        coef = predictor.head.model_.coef_[0]
        contrib = np.asarray(X) * coef
        return [[{"feature": ["a", "b"][j], "contribution": float(row[j])} for j in np.argsort(-row)[:1]]
                for row in contrib]

    toy.explain = explain
    c = TestClient(create_app(run_dir, token=""))
    preds = c.post("/v1/predict", json={"records": records(X_NEW)}).json()["predictions"]
    assert [p["reasons"] for p in preds] == explain(predictor_of(run_dir), X_NEW)
    assert {p["reasons"][0]["feature"] for p in preds} == {"a", "b"}
    off = c.post("/v1/predict?explain=false", json={"records": records(X_NEW)}).json()["predictions"]
    assert all(p["reasons"] is None for p in off)
    toy.explains = lambda predictor: False  # reasons not informative for this model: only when asked
    c = TestClient(create_app(run_dir, token=""))
    assert all(p["reasons"] is None for p in c.post("/v1/predict", json={"records": records(X_NEW)}).json()["predictions"])
    asked = c.post("/v1/predict?explain=true", json={"records": records(X_NEW)}).json()["predictions"]
    assert [p["reasons"] for p in asked] == explain(predictor_of(run_dir), X_NEW)


def test_malformed_requests_all_4xx_and_server_healthy(run_dir):
    """1,000 malformed requests (benchmarks/serve_load.py's mix: bad JSON, wrong types, missing /
    extra fields, oversized body, wrong / missing token, ...) with auth on: every one a 4xx, and
    the server answers health and a valid request afterwards. In-process ASGI, one event loop."""
    import asyncio

    import httpx

    app = create_app(run_dir, token="tok", max_body_bytes=5_000)
    record = {"a": 0.3, "b": -0.2}
    reqs = malformed_requests(1000, record, NAME, token="tok", max_body=5_000)

    async def go() -> tuple[list[int], int, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            codes = [(await c.request(m, path, headers=h, content=body or None)).status_code
                     for m, path, h, body in reqs]
            health = (await c.get("/v2/health/ready")).status_code
            m, path, h, body = valid_request(record, token="tok")
            return codes, health, await c.request(m, path, headers=h, content=body)

    codes, health, r = asyncio.run(go())
    assert len(codes) == 1000
    bad = sorted({(s, reqs[i][1]) for i, s in enumerate(codes) if not 400 <= s < 500})
    assert not bad, bad
    assert {401, 404, 413, 422} <= set(codes)
    assert health == 200
    assert r.status_code == 200 and 0 <= r.json()["predictions"][0]["score"] <= 1


def test_onnx_backend_matches_predictor(run_dir):
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'verticalkit[onnx]')")
    from verticalkit.core.errors import ConfigError
    from verticalkit.core.serve.export import export_run

    with pytest.raises(ConfigError, match="verticalkit export"):
        create_app(run_dir, token="", backend="onnx")
    export_run(run_dir, "onnx")
    c = TestClient(create_app(run_dir, token="", backend="onnx"))
    r = c.post("/v1/predict", json={"records": records(X_NEW)})
    assert r.status_code == 200, r.text
    got = [p["score"] for p in r.json()["predictions"]]
    np.testing.assert_allclose(got, predictor_of(run_dir).predict_score(X_NEW), atol=1e-4)


def test_app_from_env_builds_the_worker_app(run_dir, monkeypatch):
    """serve(workers=n): each uvicorn worker builds the app from $VERTICALKIT_SERVE_ARGS."""
    from verticalkit.core.serve.app import SERVE_ARGS_ENV, app_from_env

    monkeypatch.setenv(SERVE_ARGS_ENV, json.dumps({"model_dir": str(run_dir), "max_body_bytes": 2_000,
                                                   "token_env": "VK_TEST_TOKEN_UNSET"}))
    c = TestClient(app_from_env())
    r = c.post("/v1/predict", json={"records": records(X_NEW)})
    assert r.status_code == 200
    np.testing.assert_allclose([p["score"] for p in r.json()["predictions"]],
                               predictor_of(run_dir).predict_score(X_NEW), rtol=1e-12)
    big = {"records": records(pd.DataFrame({"a": np.zeros(200), "b": np.zeros(200)}))}
    assert c.post("/v1/predict", json=big).status_code == 413  # the arguments reached create_app
