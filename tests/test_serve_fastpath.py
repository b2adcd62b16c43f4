"""The /v1/predict fast path (core.serve.middleware.RecordsFastPath): which requests it answers,
that it answers them with the validating route's bytes, and that everything else still gets
the route's answer (422 naming the field, 401, 413)."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("fastapi", reason="serving tests need FastAPI (pip install 'verticalkit[serve]')")
pytest.importorskip("httpx", reason="serving tests need httpx (pip install 'verticalkit[serve]')")
from fastapi.testclient import TestClient  # noqa: E402

from verticalkit.core.heads.predictor import Predictor  # noqa: E402
from verticalkit.core.train.run import input_schema  # noqa: E402
from verticalkit.core.serve.app import create_app  # noqa: E402
from verticalkit.core.serve.middleware import BodyLimit, RecordsFastPath, plain_records  # noqa: E402
from verticalkit.verticals.fraud import tiny_data  # noqa: E402
from verticalkit.verticals.fraud.data import GERMAN_DESCRIPTIONS  # noqa: E402
from verticalkit.verticals.fraud.models import GBDTHead, ScorecardHead  # noqa: E402

COLUMNS = {"amount": "float64", "count": "int64", "flag": "bool", "kind": "object"}
GOOD = {"amount": 12.5, "count": 3, "flag": False, "kind": "pos"}


# -- plain_records ---------------------------------------------------------------------------------
def test_plain_records_accepts_exact_fields_and_json_types():
    assert plain_records({"records": [GOOD, {**GOOD, "amount": 7}]}, COLUMNS, 10) is not None  # int for a float


@pytest.mark.parametrize("payload", [
    {"records": [{**GOOD, "amount": True}]},       # bool is not a number here
    {"records": [{**GOOD, "amount": "12.5"}]},     # numeric string: the route decides
    {"records": [{**GOOD, "count": 3.0}]},         # float for an int
    {"records": [{**GOOD, "kind": None}]},         # null
    {"records": [{**GOOD, "kind": 4}]},            # number for a string
    {"records": [{k: v for k, v in GOOD.items() if k != "flag"}]},  # missing field
    {"records": [{**GOOD, "extra": 1}]},           # extra field
    {"records": []},                               # empty
    {"records": [GOOD] * 11},                      # over max_records
    {"records": [GOOD], "other": 1},               # extra envelope key
    [GOOD],                                        # wrong envelope
    {"records": [[1, 2, 3, 4]]},                   # a record that is not an object
])
def test_plain_records_refuses_anything_else(payload):
    assert plain_records(payload, COLUMNS, 10) is None


# -- the middleware on its own ---------------------------------------------------------------------
class Inner:
    """An ASGI app that records the body it was given and answers 418."""

    def __init__(self):
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send):
        body, more = b"", True
        while more:
            msg = await receive()
            body, more = body + msg["body"], msg.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})


def _call(app, body: bytes, headers: dict[str, str], query: bytes = b"", chunks: int = 1):
    scope = {"type": "http", "method": "POST", "path": "/v1/predict", "query_string": query,
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    step = max(1, -(-len(body) // chunks))
    parts = [body[i:i + step] for i in range(0, len(body), step)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(msg):
        sent.append(msg)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _fast(inner, token=None, calls=None, fail=False):
    def predict(records):
        if calls is not None:
            calls.append(len(records))
        if fail:
            raise ValueError("the model cannot score this")
        return [r["amount"] for r in records]

    return RecordsFastPath(inner, predict=predict, render=lambda preds: json.dumps({"n": len(preds)}).encode(),
                           columns=COLUMNS, max_records=10, token=token, max_batch=8)


def test_fast_path_answers_plain_records_without_the_app():
    inner = Inner()
    body = json.dumps({"records": [GOOD, GOOD]}).encode()
    assert _call(_fast(inner), body, {"content-type": "application/json"}, chunks=3) == (200, b'{"n": 2}')
    assert inner.bodies == []


@pytest.mark.parametrize("body,headers,query", [
    (b'{"records": [{', {"content-type": "application/json"}, b""),                        # bad JSON
    (b"\xff\xfe", {"content-type": "application/json"}, b""),                              # not UTF-8
    (json.dumps({"records": [{**GOOD, "count": "3"}]}).encode(), {"content-type": "application/json"}, b""),
    (json.dumps({"records": [GOOD]}).encode(), {"content-type": "text/plain"}, b""),       # content type
    (json.dumps({"records": [GOOD]}).encode(), {"content-type": "application/json"}, b"explain=true"),
])
def test_everything_else_reaches_the_app_with_its_body(body, headers, query):
    inner = Inner()
    assert _call(_fast(inner), body, headers, query=query, chunks=2) == (418, b"inner")
    assert inner.bodies == [body]


def test_fast_path_needs_the_token_when_auth_is_on():
    body = json.dumps({"records": [GOOD]}).encode()
    js = {"content-type": "application/json"}
    for headers, answered_here in [({**js, "authorization": "Bearer s3cret"}, True),
                                   ({**js, "authorization": "bearer s3cret "}, True),
                                   ({**js, "authorization": "Bearer wrong"}, False),
                                   ({**js, "authorization": "s3cret"}, False), (js, False)]:
        inner = Inner()
        status, _ = _call(_fast(inner, token="s3cret"), body, headers)
        assert (status == 200) is answered_here and (inner.bodies == []) is answered_here, headers


def test_concurrent_requests_are_scored_in_one_call_each_getting_its_own_slice():
    """Requests that arrive in the same loop turn share one predict call (at most max_batch = 8
    records per call; a request is never split); each response holds only its own records."""
    calls: list[int] = []
    fast = _fast(Inner(), calls=calls)
    sizes = [1, 3, 2, 1, 4, 1]  # 12 records: 1+3+2+1 = 7 fit in one call, 4+1 in the next
    results: dict[int, tuple[int, bytes]] = {}

    async def one(i, n):
        body = json.dumps({"records": [{**GOOD, "amount": float(i)}] * n}).encode()
        scope = {"type": "http", "method": "POST", "path": "/v1/predict", "query_string": b"",
                 "headers": [(b"content-type", b"application/json")]}
        sent = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(msg):
            sent.append(msg)

        await fast(scope, receive, send)
        results[i] = (sent[0]["status"], sent[1]["body"])

    async def main():
        await asyncio.gather(*(one(i, n) for i, n in enumerate(sizes)))

    asyncio.run(main())
    assert calls == [7, 5]
    assert results == {i: (200, json.dumps({"n": n}).encode()) for i, n in enumerate(sizes)}


def test_a_failing_batch_sends_each_request_to_the_app():
    inner = Inner()
    body = json.dumps({"records": [GOOD]}).encode()
    assert _call(_fast(inner, fail=True), body, {"content-type": "application/json"}) == (418, b"inner")
    assert inner.bodies == [body]


def test_body_limit_still_applies_in_front():
    inner = Inner()
    app = BodyLimit(_fast(inner), max_bytes=64)
    body = json.dumps({"records": [GOOD] * 5}).encode()
    assert _call(app, body, {"content-type": "application/json"}, chunks=4)[0] == 413  # streamed, no length
    assert inner.bodies == []


# -- through create_app ----------------------------------------------------------------------------
pytestmark = pytest.mark.usefixtures("fraud_registered")  # tests/conftest.py


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("skl2onnx", reason="needs skl2onnx (pip install 'verticalkit[onnx]')")
    from verticalkit.core.serve.export import export_run

    german = tiny_data(0)
    runs = {}
    for name, head in [("gbdt", GBDTHead(max_iter=20)), ("scorecard", ScorecardHead(descriptions=GERMAN_DESCRIPTIONS))]:
        run = tmp_path_factory.mktemp("fast") / name
        Predictor(head.fit(german.train.X, german.train.y), vertical="fraud", model=name, dataset="german-credit",
                  task=german.task, input_schema=input_schema(german.train.X)).save(run / "model")
        (run / "metrics.json").write_text(json.dumps({"thresholds": {"chosen_on": "validation",
                                                                     "cost": {"threshold": 0.4}}}))
        export_run(run, "onnx")
        runs[name] = run
    return german, runs


def test_fast_path_answers_with_the_routes_bytes(exported):
    german, runs = exported
    app = create_app(runs["gbdt"], token="", backend="onnx")
    assert app.state.fast_path
    c = TestClient(app)
    X = german.test.X.iloc[:20].reset_index(drop=True)
    X.loc[:4, "purpose"] = "spaceship"  # unseen category
    records = X.to_dict("records")
    fast = c.post("/v1/predict", content=json.dumps({"records": records}),
                  headers={"content-type": "application/json"})
    routed = c.post("/v1/predict?explain=false", json={"records": records})  # a query string: the FastAPI route
    assert fast.status_code == routed.status_code == 200, fast.text
    assert fast.content == routed.content
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"


def test_near_misses_get_the_routes_422_naming_the_field(exported):
    german, runs = exported
    c = TestClient(create_app(runs["gbdt"], token="", backend="onnx"))
    record = german.test.X.iloc[0].to_dict()
    num = next(k for k, v in record.items() if isinstance(v, float))
    for bad in ({**record, num: "abc"}, {**record, num: None}, {**record, num: [1]}, {**record, "surprise": 1}):
        r = c.post("/v1/predict", json={"records": [bad]})
        assert r.status_code == 422, (bad, r.text)
        fields = [f["field"] for f in r.json()["fields"]]
        assert any(num in f or "surprise" in f for f in fields), fields


def test_auth_and_reasons_keep_their_route(exported):
    german, runs = exported
    record = german.test.X.iloc[0].to_dict()
    c = TestClient(create_app(runs["gbdt"], token="tok", backend="onnx"))
    assert c.post("/v1/predict", json={"records": [record]}).status_code == 401
    assert c.post("/v1/predict", json={"records": [record]}, headers={"authorization": "Bearer tok"}).status_code == 200
    scorecard = create_app(runs["scorecard"], token="", backend="onnx")
    assert not scorecard.state.fast_path  # reason codes by default: every request takes the route
    r = TestClient(scorecard).post("/v1/predict", json={"records": [record]})
    assert r.status_code == 200 and r.json()["predictions"][0]["reasons"]


def test_without_orjson_the_stdlib_gives_the_same_bytes(tmp_path):
    """orjson is optional: without it the server's encoder and the fast path's parser fall back to
    the stdlib: compact UTF-8 JSON with the same values (only a float's exponent may be spelled
    differently: 1e-05 vs 1e-5)."""
    import subprocess
    import sys

    response = {"model": "fraud-gbdt", "threshold": 0.35, "threshold_source": "metrics.json: cost (validation)",
                "predictions": [{"score": 0.21330246329307556, "probabilities": None, "decision": 0, "label": "good",
                                 "reasons": None}, {"score": 1e-05, "probabilities": {"a": 0.5}, "decision": 1,
                                                    "label": "bad", "reasons": ["x é"]}]}
    code = (
        "import sys, json; sys.modules['orjson'] = None\n"
        "from verticalkit.core.serve import app as serve, middleware as m\n"
        "assert serve.dumps.__module__ == 'verticalkit.core.serve.app' and m._loads is json.loads\n"
        f"sys.stdout.buffer.write(serve.dumps(json.loads({json.dumps(json.dumps(response))})))\n"
        "assert m.plain_records(m._loads(b'{\"records\": [{\"a\": 1}]}'), {'a': 'float64'}, 5) == [{'a': 1}]\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert json.loads(out) == response
    assert "x é".encode() in out and out.startswith(b'{"model":"fraud-gbdt","threshold":0.35,')  # UTF-8, compact
