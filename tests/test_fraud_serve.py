"""Fraud serving hooks (serve_example, explain) through FastAPI's TestClient: probability,
decision at the run's saved threshold and reason codes; 422s that name the field."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="serving tests need FastAPI (pip install 'verticalkit[serve]')")
pytest.importorskip("httpx", reason="serving tests need httpx (pip install 'verticalkit[serve]')")
from fastapi.testclient import TestClient  # noqa: E402

from verticalkit.core.predictor import Predictor  # noqa: E402
from verticalkit.core.registry import get_vertical, register, unregister  # noqa: E402
from verticalkit.core.run import input_schema  # noqa: E402
from verticalkit.core.serve import create_app  # noqa: E402
from verticalkit.verticals.fraud import NO_REASONS, SERVE_EXAMPLE, VERTICAL, tiny_data  # noqa: E402
from verticalkit.verticals.fraud.data import GERMAN_DESCRIPTIONS  # noqa: E402
from verticalkit.verticals.fraud.models import LogRegHead, ScorecardHead  # noqa: E402

THRESHOLD = 0.35


@pytest.fixture(scope="module", autouse=True)
def fraud_registered():
    try:
        get_vertical("fraud")
        yield
    except Exception:  # noqa: BLE001 - entry point not installed
        register(VERTICAL)
        yield
        unregister("fraud")


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


def test_other_heads_say_why_they_give_no_reasons(tmp_path, german):
    run = _run(tmp_path, german, LogRegHead(), "logreg")
    r = TestClient(create_app(run, token="")).post("/v1/predict", json={"records": [SERVE_EXAMPLE]})
    assert r.status_code == 200, r.text
    (p,) = r.json()["predictions"]
    assert p["reasons"] == [NO_REASONS.format(model="logreg")] and "scorecard" in p["reasons"][0]
