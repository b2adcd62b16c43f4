"""Property-based fuzzing of /v1/predict and /v2/.../infer on both backends (predictor, ONNX):
every malformed request is a 4xx, none is a 5xx, every well-formed one a 200.

The model: a fraud gbdt on German credit rows (text, float and an added int64 column), exported to
ONNX, so the ONNX backend also answers plain /v1 requests from its fast path (RecordsFastPath).
The small run is in the default suite; ``-m slow`` runs ten times as many examples. Counts are
printed (``-s``) and kept in ``COUNTS``."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="serving tests need FastAPI (pip install 'verticalkit[serve]')")
pytest.importorskip("httpx", reason="serving tests need httpx")
pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'verticalkit[onnx]')")
pytest.importorskip("skl2onnx", reason="needs skl2onnx (pip install 'verticalkit[onnx]')")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from verticalkit.core.heads.predictor import Predictor  # noqa: E402
from verticalkit.core.train.run import input_schema  # noqa: E402
from verticalkit.core.serve.app import create_app  # noqa: E402

pytestmark = pytest.mark.usefixtures("fraud_registered")  # tests/conftest.py

COUNTS: Counter = Counter()
NAME = "fraud-gbdt"


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    from verticalkit.core.serve.export import export_run
    from verticalkit.verticals.fraud import tiny_data
    from verticalkit.verticals.fraud.models import GBDTHead

    g = tiny_data(0)
    X = g.train.X.copy()
    X["n_cards"] = np.random.default_rng(0).integers(0, 6, len(X)).astype(np.int64)  # an int64 column
    run = tmp_path_factory.mktemp("fuzz") / "gbdt"
    Predictor(GBDTHead(max_iter=10).fit(X, g.train.y), vertical="fraud", model="gbdt", dataset="german-credit",
              task=g.task, input_schema=input_schema(X)).save(run / "model")
    export_run(run, "onnx")
    out = {b: TestClient(create_app(run, token="", backend=b)) for b in ("predictor", "onnx")}
    assert out["onnx"].app.state.fast_path
    yield out, input_schema(X)["columns"], X
    print(f"\nserve fuzz counts: {dict(sorted(COUNTS.items()))}")


# -- strategies --------------------------------------------------------------------------------
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
ints = st.integers(min_value=-1000, max_value=1000)
text = st.text(max_size=12)


def value_for(dtype: str) -> st.SearchStrategy:
    return finite | ints if dtype.startswith("float") else ints if dtype.startswith("int") else text


@st.composite
def good_records(draw, columns):
    n = draw(st.integers(1, 4))
    return [{c: draw(value_for(t)) for c, t in columns.items()} for _ in range(n)]


BAD_NUMBERS = [True, False, "1.5", " 1 ", "1e3", "NaN", "", None, [], {}, [1.0], math.nan, math.inf, -math.inf]
BAD_INTS = [1.5, 2.0, True, "3", 2 ** 64, -(2 ** 63) - 1, math.nan, None]
BAD_TEXT = [1, 1.5, True, None, ["a"], {"a": 1}]


@st.composite
def bad_v1(draw, columns):
    """A well-formed body with one thing broken: a value, a field, the envelope, the JSON."""
    records = draw(good_records(columns))
    kind = draw(st.sampled_from(["value", "missing", "unknown-field", "unknown-key", "envelope", "raw"]))
    col = draw(st.sampled_from(sorted(columns)))
    r = draw(st.integers(0, len(records) - 1))
    if kind == "value":
        t = columns[col]
        pool = BAD_INTS if t.startswith("int") else BAD_NUMBERS if t.startswith("float") else BAD_TEXT
        records[r][col] = draw(st.sampled_from(pool))
    elif kind == "missing":
        del records[r][col]
    elif kind == "unknown-field":
        records[r][draw(st.sampled_from(["extra", col.upper(), col + " ", ""]))] = 1.0
    elif kind == "unknown-key":
        return json.dumps({"records": records, draw(st.sampled_from(["explain", "id", "Records"])): True})
    elif kind == "envelope":
        return json.dumps(draw(st.sampled_from([{"records": []}, {"records": records[0]}, {"rows": records},
                                                 records, {"records": [records[0], 1]}, {"records": None}, 1])))
    else:
        return draw(st.sampled_from(["", "{", "records", "{'records': []}", "\xff\xfe", "[1, 2", "null"]))
    return json.dumps({"records": records})  # NaN / Infinity as the literals Python writes


def v2_datatype(dtype: str) -> str:
    return "FP64" if dtype.startswith("float") else "INT64" if dtype.startswith("int") else "BYTES"


def v2_body(records, columns) -> dict:
    return {"inputs": [{"name": c, "datatype": v2_datatype(t), "shape": [len(records)],
                        "data": [r[c] for r in records]} for c, t in columns.items()]}


@st.composite
def bad_v2(draw, columns):
    records = draw(good_records(columns))
    body = v2_body(records, columns)
    n = len(records)
    i = draw(st.integers(0, len(body["inputs"]) - 1))
    t = body["inputs"][i]
    kind = draw(st.sampled_from(["data", "datatype", "shape", "extra", "missing", "duplicate", "key", "envelope"]))
    if kind == "data":
        pool = {"FP64": ["1.5", True, None, [], "NaN", math.nan, math.inf],
                "INT64": [1.5, True, "1", 2 ** 64, None], "BYTES": [1, 1.5, True, None, {}]}[t["datatype"]]
        t["data"][draw(st.integers(0, n - 1))] = draw(st.sampled_from(pool))
    elif kind == "datatype":
        wrong = {"FP64": ["BYTES", "BOOL"], "INT64": ["BYTES", "BOOL", "FP64"], "BYTES": ["FP64", "INT64", "BOOL"]}
        t["datatype"] = draw(st.sampled_from(wrong[t["datatype"]] + ["FP128", "fp64", ""]))
    elif kind == "shape":
        t["shape"] = draw(st.sampled_from([[n, 1], [1, n], [n + 1], [-1], [0], [], ["n"], [True], [n, 0]]))
    elif kind == "extra":
        body["inputs"].append({"name": draw(st.sampled_from(["extra", "input", t["name"].upper()])),
                               "datatype": "FP64", "shape": [n], "data": [0.0] * n})
    elif kind == "missing":
        del body["inputs"][i]
        if not body["inputs"]:
            body["inputs"] = []
    elif kind == "duplicate":
        body["inputs"].append(dict(t))
    elif kind == "key":
        (body if draw(st.booleans()) else t)[draw(st.sampled_from(["extra", "Inputs"]))] = 1
    else:
        body = draw(st.sampled_from([{}, {"inputs": None}, {"inputs": {}}, [], {"inputs": [1]}]))
    return json.dumps(body)


def _post(client, path, content) -> int:
    r = client.post(path, content=content, headers={"content-type": "application/json"})
    COUNTS["requests"] += 1
    COUNTS[f"{r.status_code // 100}xx"] += 1
    return r.status_code


def _fuzz(apps, data, backend):
    clients, columns, _ = apps
    client = clients[backend]
    endpoint = data.draw(st.sampled_from(["v1", "v2"]))
    path = "/v1/predict" if endpoint == "v1" else f"/v2/models/{NAME}/infer"
    if data.draw(st.booleans()):  # well formed
        records = data.draw(good_records(columns))
        body = {"records": records} if endpoint == "v1" else v2_body(records, columns)
        status = _post(client, path, json.dumps(body))
        assert status == 200, (backend, endpoint, body)
    else:
        body = data.draw(bad_v1(columns) if endpoint == "v1" else bad_v2(columns))
        status = _post(client, path, body)
        assert 400 <= status < 500, (backend, endpoint, status, body)


SMALL = settings(max_examples=80, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("backend", ["predictor", "onnx"])
@SMALL
@given(data=st.data())
def test_fuzz_4xx_for_malformed_200_for_well_formed(apps, backend, data):
    _fuzz(apps, data, backend)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["predictor", "onnx"])
@settings(SMALL, max_examples=1200)
@given(data=st.data())
def test_fuzz_big(apps, backend, data):
    _fuzz(apps, data, backend)


def test_backends_agree_on_the_listed_cases(apps):
    """The cases docs/serving.md names, on both endpoints and both backends: all 422."""
    clients, columns, X = apps
    rec = {c: (X[c].iloc[0].item() if hasattr(X[c].iloc[0], "item") else X[c].iloc[0]) for c in columns}
    for backend, client in clients.items():
        assert _post(client, "/v1/predict", json.dumps({"records": [rec]})) == 200
        for bad in (True, "1.5", " 1 ", "1e3", "NaN", math.inf, -math.inf, math.nan):
            assert _post(client, "/v1/predict", json.dumps({"records": [{**rec, "duration": bad}]})) == 422, bad
        assert _post(client, "/v1/predict", json.dumps({"records": [rec], "extra": 1})) == 422
        body = v2_body([rec], columns)
        assert _post(client, f"/v2/models/{NAME}/infer", json.dumps(body)) == 200
        for change in ({"data": ["x"]}, {"data": [math.inf]}, {"datatype": "BYTES", "data": ["1"]},
                       {"datatype": "BOOL", "data": [True]}, {"shape": [1, 1]}):
            bad = json.loads(json.dumps(body))
            bad["inputs"][1].update(change)  # "duration", a float column
            assert bad["inputs"][1]["name"] == "duration"
            r = clients[backend].post(f"/v2/models/{NAME}/infer", content=json.dumps(bad),
                                      headers={"content-type": "application/json"})
            assert r.status_code == 422 and "duration" in r.text, (change, r.text)
        bad = json.loads(json.dumps(body))
        bad["inputs"].append({"name": "extra", "datatype": "FP64", "shape": [1], "data": [1.0]})
        assert _post(client, f"/v2/models/{NAME}/infer", json.dumps(bad)) == 422


def test_v2_checks_for_array_and_text_models():
    from verticalkit.core.errors import DataError
    from verticalkit.core.serve.schemas import V2Tensor, check_v2_inputs

    image = {"type": "array", "shape": [None, 1, 8, 8], "dtype": "float32"}
    ok = V2Tensor(name="input", datatype="FP32", shape=[2, 1, 8, 8], data=[0.5] * 128)
    check_v2_inputs([ok], None, image)
    for bad, match in ((dict(shape=[2, 1, 8, 7]), r"shape \[2, 1, 8, 7\]"), (dict(shape=[128]), "shape"),
                       (dict(datatype="BYTES"), "numeric tensor"), (dict(name="x"), "unknown tensor 'x'"),
                       (dict(shape=[0, 1, 8, 8], data=[]), "at least one row")):
        with pytest.raises(DataError, match=match):
            check_v2_inputs([ok.model_copy(update=bad)], None, image)
    # a model without a numeric array schema (essays: texts) keeps BYTES
    check_v2_inputs([V2Tensor(name="input", datatype="BYTES", shape=[1], data=["an essay"])], None, {"type": "list"})
