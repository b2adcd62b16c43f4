"""Fraud serving hooks (serve_example, explain) through FastAPI's TestClient: probability,
decision at the run's saved threshold and reason codes; 422s that name the field."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="serving tests need FastAPI (pip install 'verticalkit[serve]')")
pytest.importorskip("httpx", reason="serving tests need httpx (pip install 'verticalkit[serve]')")
from fastapi.testclient import TestClient  # noqa: E402

from verticalkit.core.heads.predictor import Predictor  # noqa: E402
from verticalkit.core.train.run import input_schema  # noqa: E402
from verticalkit.core.serve.app import create_app  # noqa: E402
from verticalkit.core.serve.schemas import PredictResponse  # noqa: E402
from verticalkit.verticals.fraud import NO_REASONS, SERVE_EXAMPLE, VERTICAL, tiny_data  # noqa: E402
from verticalkit.verticals.fraud.data import GERMAN_DESCRIPTIONS  # noqa: E402
from verticalkit.verticals.fraud.models import GBDTHead, LogRegHead, ScorecardHead  # noqa: E402

THRESHOLD = 0.35


pytestmark = pytest.mark.usefixtures("fraud_registered")  # tests/conftest.py


@pytest.fixture(scope="module")
def german():
    return tiny_data(0)


def _run(tmp_path, german, head, name):
    run = tmp_path / name
    Predictor(head.fit(german.train.X, german.train.y), vertical="fraud", model=name, dataset="german-credit",
              task=german.task, input_schema=input_schema(german.train.X)).save(run / "model")
    (run / "metrics.json").write_text(json.dumps(
        {"thresholds": {"chosen_on": "validation", "cost": {"threshold": THRESHOLD}}}))
    return run


@pytest.fixture(scope="module")
def scorecard_run(tmp_path_factory, german):
    return _run(tmp_path_factory.mktemp("serve"), german, ScorecardHead(descriptions=GERMAN_DESCRIPTIONS),
                "scorecard")


@pytest.fixture(scope="module")
def client(scorecard_run):
    return TestClient(create_app(scorecard_run, token=""))


def test_scorecard_probability_decision_reasons(client, scorecard_run, german):
    X = german.test.X.iloc[:6]
    r = client.post("/v1/predict", json={"records": X.to_dict("records")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "fraud-scorecard" and body["threshold"] == THRESHOLD
    predictor = Predictor.load(scorecard_run / "model")
    want = predictor.predict_score(X)
    got = np.array([p["score"] for p in body["predictions"]])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert [p["decision"] for p in body["predictions"]] == [int(s >= THRESHOLD) for s in want]
    assert [p["label"] for p in body["predictions"]] == [["good", "bad"][int(s >= THRESHOLD)] for s in want]
    codes = predictor.head.reason_codes(X)
    for i, p in enumerate(body["predictions"]):
        assert 1 <= len(p["reasons"]) <= 4
        assert p["reasons"][0] == codes.loc[i, "reason_1"]  # the costliest attribute first
        assert all(" points" in s and ": " in s for s in p["reasons"])
    # plain words: the attribute descriptions, not the column names
    words = " ".join(s for p in body["predictions"] for s in p["reasons"])
    assert any(d in words for d in GERMAN_DESCRIPTIONS.values())


def test_serve_example_is_one_applicant(client):
    assert set(SERVE_EXAMPLE) == set(VERTICAL.serve_example)
    r = client.post("/v1/predict", json={"records": [SERVE_EXAMPLE]})
    assert r.status_code == 200, r.text
    (p,) = r.json()["predictions"]
    assert 0 <= p["score"] <= 1 and p["decision"] in (0, 1) and isinstance(p["reasons"], list)
    spec = client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["Record"]["examples"] == [SERVE_EXAMPLE]


@pytest.mark.parametrize("field", ["credit_amount", "checking_status"])
def test_missing_field_is_422_naming_it(client, field):
    record = {k: v for k, v in SERVE_EXAMPLE.items() if k != field}
    r = client.post("/v1/predict", json={"records": [SERVE_EXAMPLE, record]})
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["fields"]]
    assert f"records.1.{field}" in fields


def test_wrong_type_is_422_naming_the_field(client):
    r = client.post("/v1/predict", json={"records": [{**SERVE_EXAMPLE, "age": "forty"}]})
    assert r.status_code == 422 and "records.0.age" in [e["field"] for e in r.json()["fields"]]


def test_explain_flag_turns_scorecard_reasons_off(client):
    r = client.post("/v1/predict?explain=false", json={"records": [SERVE_EXAMPLE]})
    assert r.status_code == 200 and r.json()["predictions"][0]["reasons"] is None
    assert client.post("/v1/predict?explain=maybe", json={"records": [SERVE_EXAMPLE]}).status_code == 422


def test_other_heads_give_reasons_only_when_asked_and_say_why(tmp_path, german):
    run = _run(tmp_path, german, LogRegHead(), "logreg")
    c = TestClient(create_app(run, token=""))
    r = c.post("/v1/predict", json={"records": [SERVE_EXAMPLE]})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"][0]["reasons"] is None  # not informative for logreg: not computed
    r = c.post("/v1/predict?explain=true", json={"records": [SERVE_EXAMPLE]})
    (p,) = r.json()["predictions"]
    assert p["reasons"] == [NO_REASONS.format(model="logreg")] and "scorecard" in p["reasons"][0]


# -- the onnx fast path: records → the export's num / cat tensors, no DataFrame ---------------------------
@pytest.fixture(scope="module")
def onnx_runs(tmp_path_factory, german):
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'verticalkit[onnx]')")
    pytest.importorskip("skl2onnx", reason="needs skl2onnx (pip install 'verticalkit[onnx]')")
    from verticalkit.core.serve.export import export_run

    base = tmp_path_factory.mktemp("onnx")
    runs = {"gbdt": _run(base, german, GBDTHead(max_iter=30), "gbdt"),
            "scorecard": _run(base, german, ScorecardHead(descriptions=GERMAN_DESCRIPTIONS), "scorecard")}
    for run in runs.values():
        export_run(run, "onnx")
    return runs


def _rows_with_unseen(german):
    X = german.test.X.iloc[:40].reset_index(drop=True)
    X.loc[:9, "purpose"] = "spaceship"  # a category the model never saw: the contract's unknown code
    return X


@pytest.mark.parametrize("name", ["gbdt", "scorecard"])
def test_onnx_fast_path_matches_predictor(onnx_runs, german, name):
    run = onnx_runs[name]
    app = create_app(run, token="", backend="onnx")
    assert app.state.record_feeds  # the fast path, not the DataFrame one
    c = TestClient(app)
    X = _rows_with_unseen(german)
    r = c.post("/v1/predict", json={"records": X.to_dict("records")})
    assert r.status_code == 200, r.text
    body = PredictResponse.model_validate(r.json())  # the documented response contract
    got = np.array([p.score for p in body.predictions])
    predictor = Predictor.load(run / "model")
    tol = json.loads((run / "export" / "onnx" / "export.json").read_text())["parity"]["tolerance"]
    np.testing.assert_allclose(got, predictor.predict_score(X), atol=tol, rtol=0)
    # the same response as the Predictor backend, up to the tolerance on the scores
    slow = TestClient(create_app(run, token="")).post("/v1/predict", json={"records": X.to_dict("records")}).json()
    fast = r.json()
    assert {k: v for k, v in fast.items() if k != "predictions"} == \
        {k: v for k, v in slow.items() if k != "predictions"}
    for f, s in zip(fast["predictions"], slow["predictions"]):
        assert set(f) == set(s) == {"score", "probabilities", "scores", "decision", "label", "reasons"}
        assert f["reasons"] == s["reasons"]
        if abs(s["score"] - body.threshold) > tol:
            assert f["decision"] == s["decision"] and f["label"] == s["label"]
    if name == "scorecard":
        assert all(p["reasons"] for p in fast["predictions"])  # reasons on by default for the scorecard
    else:
        assert all(p["reasons"] is None for p in fast["predictions"])


def test_record_feeds_equal_table_feeds(onnx_runs, german):
    from verticalkit.core.serve.export import ExportedScorer, table_feeds
    from verticalkit.core.serve.app import record_feeds

    run = onnx_runs["gbdt"]
    predictor = Predictor.load(run / "model")
    scorer = ExportedScorer(run / "export" / "onnx", predictor=predictor)
    X = _rows_with_unseen(german)
    feeds = record_feeds(scorer, predictor.input_schema["columns"])
    assert feeds is not None
    got, want = feeds(X.to_dict("records")), table_feeds(scorer._contract, X)
    assert list(got) == list(want) == ["num", "cat"]
    for k in want:
        assert got[k].dtype == want[k].dtype
        np.testing.assert_array_equal(got[k], want[k])
    assert (got["cat"] == 0).any()  # the unseen category took the unknown code
