"""The demo page at ``/`` of ``verticalkit serve``: served without a token, offline (no external
URL), and, in headless Chromium against a real server on 127.0.0.1, it scores the pre-filled
example of each vertical through /v1/predict (finance: score, decision, reason codes; medical: class
scores and a Grad-CAM overlay; education: score and review flags), with the bearer token."""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="serving tests need FastAPI (pip install 'verticalkit[serve]')")
pytest.importorskip("httpx", reason="serving tests need httpx (pip install 'verticalkit[serve]')")
from fastapi.testclient import TestClient  # noqa: E402

from verticalkit.core.heads.predictor import Predictor  # noqa: E402
from verticalkit.core.train.run import input_schema  # noqa: E402
from verticalkit.core.serve.app import create_app  # noqa: E402
from test_report import _chromium  # noqa: E402  (tests/: the browser finder of the report test)

TOKEN = "s3cret-tok"
LOG_422 = "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"


# -- trained toy runs, one per vertical ------------------------------------------------------------
def _save(run, head, splits, vertical, model):
    Predictor(head, vertical=vertical, model=model, dataset=splits.dataset, task=splits.task,
              input_schema=input_schema(splits.train.X)).save(run / "model")
    return run


@pytest.fixture(scope="module")
def fraud_run(tmp_path_factory):
    from verticalkit.verticals.fraud import tiny_data
    from verticalkit.verticals.fraud.data import GERMAN_DESCRIPTIONS
    from verticalkit.verticals.fraud.models import ScorecardHead

    s = tiny_data(0)
    run = _save(tmp_path_factory.mktemp("page") / "fraud", ScorecardHead(descriptions=GERMAN_DESCRIPTIONS)
                .fit(s.train.X, s.train.y), s, "fraud", "scorecard")
    (run / "metrics.json").write_text(json.dumps({"thresholds": {"chosen_on": "validation",
                                                                 "cost": {"threshold": 0.35}}}))
    return run


@pytest.fixture(scope="module")
def medical_run(tmp_path_factory):
    pytest.importorskip("torch")
    from verticalkit.core.config import TrainConfig
    from verticalkit.core.heads.base import FitContext
    from verticalkit.verticals.medical_imaging import tiny_data
    from verticalkit.verticals.medical_imaging.models import CNNHead

    s = tiny_data(0)
    ctx = FitContext(task=s.task, seed=0, train=TrainConfig(epochs=1, batch_size=32, progress=False, patience=None,
                                                            mixed_precision="no"))
    head = CNNHead(width=8).fit(s.train.X, s.train.y, context=ctx)
    return _save(tmp_path_factory.mktemp("page") / "medical", head, s, "medical_imaging", "cnn")


@pytest.fixture(scope="module")
def essay_run(tmp_path_factory):
    from verticalkit.verticals.essay_scoring import tiny_data
    from verticalkit.verticals.essay_scoring.models import FeaturesHead

    s = tiny_data(0)
    return _save(tmp_path_factory.mktemp("page") / "essay", FeaturesHead().fit(s.train.X, s.train.y), s,
                 "essay_scoring", "features")


@pytest.fixture(scope="module")
def traits_run(tmp_path_factory):
    from verticalkit.core.heads.base import FitContext
    from verticalkit.verticals.essay_scoring.tiny import tiny_traits
    from verticalkit.verticals.essay_scoring.traits import TraitsHead

    s = tiny_traits(0)
    head = TraitsHead().fit(s.train.X, s.train.y, context=FitContext(task=s.task, seed=0))
    return _save(tmp_path_factory.mktemp("page") / "traits", head, s, "essay_scoring", "traits")


RUNS = {"fraud": "fraud_run", "medical_imaging": "medical_run", "essay_scoring": "essay_run"}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "formaction") and v is not None]


def _page_config(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="vk-config">(.*?)</script>', text, re.S)
    assert m, "the page has no configuration"
    return json.loads(m.group(1))


# -- the page as served (no browser) ---------------------------------------------------------------
@pytest.mark.parametrize("vertical", list(RUNS))
def test_page_served_offline_and_its_example_passes_the_api(vertical, request):
    run = request.getfixturevalue(RUNS[vertical])
    client = TestClient(create_app(run, token=TOKEN))
    r = client.get("/")  # no token: the page itself is public
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    text = r.text
    assert not re.search(r"https?://", text), "the page names an external URL"
    links = _Links()
    links.feed(text)
    assert links.urls and all(u.startswith("/") and not u.startswith("//") for u in links.urls), links.urls
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "unsafe-inline" not in csp
    cfg = _page_config(text)
    assert cfg["form"] == {"fraud": "table", "medical_imaging": "image", "essay_scoring": "text"}[vertical]
    # the page scores through the API: its metadata and predict calls need the token like any client's
    assert client.get(cfg["metadata"]).status_code == 401
    assert client.post(cfg["predict"], json={"records": [cfg["example"]]}).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    meta = client.get(cfg["metadata"], headers=auth).json()
    assert meta["parameters"]["vertical"] == vertical
    r = client.post(cfg["predict"] + ("?explain=true" if cfg["explain"] else ""),
                    json={"records": [cfg["example"]]}, headers=auth)
    assert r.status_code == 200, r.text
    pred = r.json()["predictions"][0]
    assert pred["score"] is not None or pred["probabilities"] is not None


def test_page_config_cannot_break_out_of_its_script(fraud_run):
    """An example holding ``</script>`` stays inside the JSON configuration."""
    from verticalkit.core.serve.page import page_config

    text = page_config("m", "t", "json", {"text": "</script><script>alert(1)</script>"}, False)
    assert "<" not in text and ">" not in text
    assert json.loads(text)["example"]["text"] == "</script><script>alert(1)</script>"


def test_medical_explain_gives_a_grad_cam_overlay_png(medical_run):
    """?explain=true on an image model: one overlay per image, a PNG data URI of the served size, for a
    PNG upload (image_base64); no DICOM header value can be in it (the response is scores and an image)."""
    import base64

    from PIL import Image

    client = TestClient(create_app(medical_run, token=""))
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((20, 20)) * 255).astype(np.uint8)).save(buf, format="PNG")
    rec = {"image_base64": base64.b64encode(buf.getvalue()).decode()}
    plain = client.post("/v1/predict", json={"records": [rec]}).json()["predictions"][0]
    assert plain["reasons"] is None  # the overlay costs a backward pass: only when asked for
    pred = client.post("/v1/predict?explain=true", json={"records": [rec, rec]}).json()["predictions"]
    assert len(pred) == 2
    (item,) = pred[0]["reasons"]
    assert item["title"].startswith("Grad-CAM of")
    assert item["overlay"].startswith("data:image/png;base64,")
    png = Image.open(io.BytesIO(base64.b64decode(item["overlay"].split(",", 1)[1])))
    assert png.size == (224, 224) and png.mode == "RGB"
    assert pred[0]["score"] == pytest.approx(plain["score"], abs=1e-6)


SECRET = {"PatientName": "Doe^Janet^Secretname", "PatientID": "PID-998877", "InstitutionName": "St Hidden"}


def _dicom(tmp_path):
    """pydicom's bundled CT slice with identifying header values written in."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for k, v in SECRET.items():
        setattr(ds, k, v)
    out = tmp_path / "Doe_Janet.dcm"
    ds.save_as(out)
    return out


def test_dicom_upload_scores_without_header_values(medical_run, tmp_path):
    import base64

    client = TestClient(create_app(medical_run, token=""))
    raw = _dicom(tmp_path).read_bytes()
    r = client.post("/v1/predict?explain=true", json={"records": [{"image_base64": base64.b64encode(raw).decode()}]})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"][0]["reasons"][0]["overlay"].startswith("data:image/png;base64,")
    assert not any(v.split("^")[0] in r.text or v.split("^")[-1] in r.text for v in SECRET.values())


def test_essay_reasons_are_review_flags(essay_run):
    client = TestClient(create_app(essay_run, token=""))
    text = "The same sentence again. " * 30
    r = client.post("/v1/predict", json={"records": [{"text": text, "prompt": 1},
                                                     {"text": "Computers help people learn. They are useful.",
                                                      "prompt": 1}]})
    assert r.status_code == 200, r.text
    p = r.json()["predictions"]
    assert "repetitive" in p[0]["reasons"] and "repetitive" not in p[1]["reasons"]


def test_trait_scores_are_served(traits_run):
    """A multi-trait essay model: /v1/predict gives ``scores`` (trait → score; null for a trait the
    prompt has none of), equal to the Predictor's; before, it answered 500."""
    client = TestClient(create_app(traits_run, token=""))
    records = [{"text": "Computers help people learn. They are useful to talk with friends.", "prompt": 1},
               {"text": "Computers help people learn. They are useful to talk with friends.", "prompt": 2}]
    r = client.post("/v1/predict", json={"records": records})
    assert r.status_code == 200, r.text
    p = r.json()["predictions"]
    want = Predictor.load(traits_run / "model").predict_score(
        pd.DataFrame.from_records(records).astype({"prompt": "int64"}))
    assert set(p[0]["scores"]) == {"Content", "Organization"} and p[0]["score"] is None
    assert p[0]["scores"]["Content"] == pytest.approx(float(want[0, 0]), abs=1e-6)
    assert p[0]["scores"]["Organization"] == pytest.approx(float(want[0, 1]), abs=1e-6)
    assert np.isnan(want[1, 1]) and p[1]["scores"]["Organization"] is None


# -- headless Chromium against a real server ----------------------------------------------------------
@pytest.fixture(scope="module")
def browser_path():
    path = _chromium()
    if path is None:
        pytest.skip("no headless Chromium / Chrome found (set VERTICALKIT_CHROMIUM, or install one, e.g. "
                    "`apt-get install chromium`); playwright's own browser download needs a network")
    pytest.importorskip("playwright", reason="the browser test drives Chromium with playwright (pip install playwright)")
    return path


class _Server:
    """uvicorn on 127.0.0.1 (a free port) in a thread."""

    def __init__(self, app):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def _open(browser, url):
    """A page that records console errors and page errors and lets no request leave 127.0.0.1."""
    page = browser.new_page()
    errors, outside = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def gate(route):
        if route.request.url.startswith(url + "/") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", gate)
    page.goto(url + "/")
    return page, errors, outside


def _chromium_session(browser_path):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=browser_path, headless=True,
                                 args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
    return pw, browser


def _login(page, *, errors):
    """The page shows no model data before the token, then builds its form with it."""
    page.wait_for_selector("#auth", state="visible")
    assert page.locator("#input").is_hidden() and page.locator("#result").is_hidden()
    assert "task" not in page.inner_text("#model-info")
    page.fill("#token", "wrong")
    page.click("#token-go")
    page.wait_for_selector("#auth-error:has-text('401')")
    page.fill("#token", TOKEN)
    page.click("#token-go")
    page.wait_for_selector("#input", state="visible")
    # the 401s of the metadata request are the browser's own console lines, not script errors
    errors[:] = [e for e in errors if "401" not in e]


def test_fraud_page_in_headless_chromium(browser_path, fraud_run, tmp_path):
    """Load the page (token required), submit the pre-filled example: score, decision and reason codes
    equal the API's; a messy CSV (BOM, quoted commas, CRLF) scores every row; a CSV with an empty
    numeric cell shows the API's 422 naming the field."""
    from verticalkit.verticals.fraud import SERVE_EXAMPLE

    app = create_app(fraud_run, token=TOKEN)
    want = TestClient(app).post("/v1/predict", json={"records": [SERVE_EXAMPLE]},
                                headers={"Authorization": f"Bearer {TOKEN}"}).json()["predictions"][0]
    pw, browser = _chromium_session(browser_path)
    try:
        with _Server(app) as url:
            page, errors, outside = _open(browser, url)
            _login(page, errors=errors)
            assert page.input_value("#f-duration") == "42"
            assert page.input_value("#f-purpose") == "furniture/equipment"
            page.click("#submit")
            page.wait_for_selector("#score")
            assert float(page.inner_text("#score")) == pytest.approx(want["score"], abs=1e-4)
            assert f"decision: {want['decision']}" in page.inner_text("#decision")
            shown = page.inner_text("#reasons")
            assert want["reasons"] and all(r in shown for r in want["reasons"])
            assert errors == []

            cols = list(SERVE_EXAMPLE)
            rows = [dict(SERVE_EXAMPLE), dict(SERVE_EXAMPLE, duration=6.0), dict(SERVE_EXAMPLE, purpose="new car")]

            def line(r):
                return ",".join(f'"{v}"' if isinstance(v, str) else str(v) for v in (r[c] for c in cols))

            csv = "\ufeff" + ",".join(cols) + "\r\n" + "\r\n".join(line(r) for r in rows) + "\r\n"
            csv = csv.replace('"furniture/equipment"', '"furniture, ""equipment"""', 1)  # a quoted comma
            (tmp_path / "ok.csv").write_text(csv, encoding="utf-8")
            page.set_input_files("#csv", str(tmp_path / "ok.csv"))
            page.wait_for_selector("#results")
            assert page.locator("#results tr").count() == 1 + len(rows)
            bad = csv.replace(",6.0,", ",,", 1)
            assert bad != csv
            (tmp_path / "bad.csv").write_text(bad, encoding="utf-8")
            page.set_input_files("#csv", str(tmp_path / "bad.csv"))
            page.wait_for_selector("#error")
            assert "records.1.duration" in page.inner_text("#error")
            assert errors == [LOG_422] and outside == []  # the browser logs the refused request itself
    finally:
        browser.close()
        pw.stop()


def test_medical_page_in_headless_chromium(browser_path, medical_run, tmp_path):
    """The example image scores to class scores with the Grad-CAM overlay drawn; a PNG upload is
    previewed and scores too."""
    from PIL import Image

    pw, browser = _chromium_session(browser_path)
    try:
        with _Server(create_app(medical_run, token=TOKEN)) as url:
            page, errors, outside = _open(browser, url)
            _login(page, errors=errors)
            page.click("#submit")
            page.wait_for_selector("#overlay")
            assert 0 <= float(page.inner_text("#score")) <= 1
            assert page.evaluate("document.getElementById('overlay').naturalWidth") == 224
            Image.fromarray((np.random.default_rng(1).random((32, 32)) * 255).astype(np.uint8)).save(tmp_path / "x.png")
            page.evaluate("document.getElementById('result').replaceChildren()")
            page.set_input_files("#image", str(tmp_path / "x.png"))
            page.wait_for_selector("#preview img")
            page.click("#submit")
            page.wait_for_selector("#overlay")
            page.evaluate("document.getElementById('result').replaceChildren()")
            page.set_input_files("#image", str(_dicom(tmp_path)))  # DICOM: no preview, no header value shown
            page.wait_for_selector("#submit:enabled")
            assert page.locator("#preview").inner_html() == ""
            page.click("#submit")
            page.wait_for_selector("#overlay")
            shown = page.inner_text("body")
            assert not any(v.split("^")[-1] in shown for v in SECRET.values())
            assert errors == [] and outside == []
    finally:
        browser.close()
        pw.stop()


def test_essay_page_in_headless_chromium(browser_path, essay_run, traits_run):
    """The pre-filled essay scores; a repetitive one shows its review flag; a traits model shows
    the trait scores."""
    pw, browser = _chromium_session(browser_path)
    try:
        with _Server(create_app(essay_run, token=TOKEN)) as url:
            page, errors, outside = _open(browser, url)
            _login(page, errors=errors)
            assert page.input_value("#f-text").startswith("Dear local newspaper")
            page.click("#submit")
            page.wait_for_selector("#score")
            assert 0 <= float(page.inner_text("#score")) <= 6
            page.fill("#f-text", "The same sentence again. " * 30)
            page.click("#submit")
            page.wait_for_selector("#reasons:has-text('repetitive')")
            assert errors == [] and outside == []
        with _Server(create_app(traits_run, token=TOKEN)) as url:  # a multi-trait model: the trait scores
            page, errors, outside = _open(browser, url)
            _login(page, errors=errors)
            page.click("#submit")
            page.wait_for_selector("#scores")
            rows = page.locator("#scores tr").all_inner_texts()
            assert any(r.startswith("Content") for r in rows) and any(r.startswith("Organization") for r in rows)
            assert errors == [] and outside == []
    finally:
        browser.close()
        pw.stop()
