"""report.html (self-contained, escaped, shows the numbers) and model_card.md (YAML front matter)."""

import base64
import json
import os
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import yaml

from verticalkit.core.config import EvalConfig
from verticalkit.core.data.adapter import Task
from verticalkit.core.evaluate.evaluator import evaluate, metrics_json
from verticalkit.core.evaluate.model_card import write_model_card
from verticalkit.core.evaluate.report import write_report

BIN = Task(kind="binary", target="y", primary_metric="auprc", classes=["legit", "fraud"])
INFO = {"vertical": "v", "dataset": "d<1>", "model": "m", "split": "test", "n": 400, "protocol": "p"}


def _results():
    rng = np.random.default_rng(0)
    cfg = EvalConfig(n_bootstrap=20)
    y = (rng.random(400) < 0.2).astype(int)
    p = np.clip(0.2 + 0.5 * y + 0.2 * rng.normal(size=400), 0, 1)
    meta = pd.DataFrame({"sex": np.where(np.arange(400) % 3, "F", "M")})
    yield BIN, evaluate(BIN, y, p, meta=meta, config=cfg, val=(y, p)), 5
    k = rng.integers(0, 3, 400)
    P = rng.dirichlet(np.ones(3), 400)
    P[np.arange(400), k] += 1
    task = Task("multiclass", "c", "roc_auc", ["a", "b", "c"])
    yield task, evaluate(task, k, P / P.sum(1, keepdims=True), config=cfg), 5
    Y = (rng.random((400, 3)) < 0.3).astype(int)
    task = Task("multilabel", "l", "roc_auc", ["x", "y", "z"])
    yield task, evaluate(task, Y, np.clip(0.4 * Y + 0.6 * rng.random((400, 3)), 0, 1), config=cfg), 3
    s = rng.integers(0, 5, 400)
    task = Task("ordinal", "s", "qwk", score_range=(0, 4))
    yield task, evaluate(task, s, s + rng.normal(0, 0.7, 400), config=cfg), 3


@pytest.mark.parametrize("idx", range(4), ids=["binary", "multiclass", "multilabel", "ordinal"])
def test_report_is_self_contained_and_shows_metrics(tmp_path, idx):
    task, res, min_images = list(_results())[idx]
    path = write_report(tmp_path / "report.html", res, title="run <1> & co", task=task, info=INFO,
                        extra_sections=[("Vertical <section>", "<p id='extra'>extra content</p>")])
    text = path.read_text(encoding="utf-8")
    for name, m in res.metrics.items():
        assert f"<td>{name}</td>" in text
    assert f"{res.metrics[res.primary]['value']:.4f}" in text
    lo, hi = res.metrics[res.primary]["ci95"]
    assert f"{lo:.4f}" in text and f"{hi:.4f}" in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) >= min_images
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert not re.search(r"https?://", text)  # no external CSS/JS/fonts/images
    assert "<script" not in text and "<link" not in text
    assert "run &lt;1&gt; &amp; co" in text and "d&lt;1&gt;" in text and "Vertical &lt;section&gt;" in text
    assert "<p id='extra'>extra content</p>" in text
    assert text.index("Metrics") < text.index("data:image/png") < text.index("extra content")
    if task.kind == "binary":
        assert "Decision thresholds" in text and "Subgroups by sex" in text
    assert not list(tmp_path.glob("*.tmp*"))  # atomic: no leftovers


def test_model_card_front_matter_and_sections(tmp_path):
    task, res, _ = next(_results())
    doc = json.loads(json.dumps(metrics_json(res, vertical="fraud", dataset="ulb", model="gbdt", split="test", n=400,
                                             seed=42, train_seconds=1.5, versions={"verticalkit": "0.1"}),
                                allow_nan=False))
    card = write_model_card(tmp_path / "model_card.md", vertical="fraud", dataset="ulb", model="gbdt", task=task,
                            metrics_json=doc, config={"model_params": {"depth": 3}}, info={"n_train": 10, "n_val": 5},
                            intended_use="Testing only.", clinical=False)
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---")[1])
    result = front["model-index"][0]["results"][0]
    assert result["dataset"] == {"name": "ulb", "type": "ulb", "split": "test"}
    auprc = next(m for m in result["metrics"] if m["type"] == "auprc")
    assert auprc["value"] == pytest.approx(res.metrics["auprc"]["value"])
    assert auprc["ci95"] == pytest.approx(res.metrics["auprc"]["ci95"])
    for section in ("## Model details", "## Intended use", "## Factors", "## Metrics",
                    "## Training and evaluation data", "## Ethical considerations", "## Caveats and recommendations"):
        assert section in text
    assert "Testing only." in text and f"{res.metrics['auprc']['value']:.4f}" in text
    assert "Not for clinical use" not in text and "CLAIM" not in text


def test_model_card_clinical_items(tmp_path):
    task, res, _ = next(_results())
    doc = metrics_json(res, vertical="mi", dataset="pneumoniamnist", model="cnn", split="test", n=400, seed=1,
                       train_seconds=None, versions={})
    info = {"source": "MedMNIST v2", "preprocessing": "resize 28", "deidentification": "by the source"}
    card = write_model_card(tmp_path / "card.md", vertical="mi", dataset="pneumoniamnist", model="cnn", task=task,
                            metrics_json=doc, config={}, info=info, intended_use=None, clinical=True)
    text = card.read_text(encoding="utf-8")
    yaml.safe_load(text.split("---")[1])
    assert "Not for clinical use" in text and "MedMNIST v2" in text and "resize 28" in text
    assert "CLAIM / TRIPOD+AI" in text and "Calibration: ECE" in text and "sex" in text
    cleared = write_model_card(tmp_path / "card2.md", vertical="mi", dataset="x", model="cnn", task=task,
                               metrics_json=doc, config={}, info={"clinical_statement": "Cleared for use."},
                               clinical=True).read_text()
    assert "Cleared for use." in cleared and "Not for clinical use" not in cleared
    doc["calibration"] = {"ece": 0.138, "brier": 0.1, "temperature": 0.979, "temperature_fitted_on": "validation",
                          "ece_after_temperature": 0.0512, "brier_after_temperature": 0.0904}
    scaled = write_model_card(tmp_path / "card3.md", vertical="mi", dataset="x", model="cnn", task=task,
                              metrics_json=doc, config={}, info={}, clinical=True).read_text()
    assert "temperature 0.979 fitted on validation gives ECE 0.0512, Brier 0.0904" in scaled


# -- report.html of a real run: metrics visible, nothing fetched from outside ---------------------------------
HIDDEN_TAGS = {"head", "script", "style", "template", "noscript", "title"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
URL_ATTRS = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background", "xlink:href"}


class _Page(HTMLParser):
    """Visible text (outside head / script / style / template and elements hidden by the ``hidden``
    attribute or an inline ``display:none`` / ``visibility:hidden``), table rows as cell texts,
    every URL-valued attribute and the inline CSS."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # per open element: hidden?
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.urls: list[str] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        style = a.get("style", "").replace(" ", "").lower()
        hidden = (tag in HIDDEN_TAGS or "hidden" in a or a.get("aria-hidden") == "true"
                  or "display:none" in style or "visibility:hidden" in style)
        self.urls += [v for k, v in a.items() if k in URL_ATTRS]
        self.css.append(a.get("style", ""))
        self._in_style = tag == "style"
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.cell = []
        if tag not in VOID_TAGS:
            self.stack.append(hidden or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        if tag not in VOID_TAGS and self.stack:
            self.stack.pop()
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.css.append(data)
        if self.stack and self.stack[-1]:
            return
        self.text.append(data)
        if self.cell is not None:
            self.cell.append(data)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A real run of the toy vertical (train → metrics.json, report.html), shared by the tests below."""
    from toy_vertical import toy_vertical

    from verticalkit.core.tools.cli import main
    from verticalkit.core.registry import register, unregister

    v = register(toy_vertical())
    out = tmp_path_factory.mktemp("report") / "run"
    try:
        assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=20"]) == 0
    finally:
        unregister(v.id)
    return out


def _metric_rows(metrics: dict) -> dict[str, list[str]]:
    """metric → the row the report must show: name, value, CI low, CI high (4 decimals)."""
    return {k: [k, f"{v['value']:.4f}", *(f"{c:.4f}" for c in v["ci95"])] for k, v in metrics.items()
            if v.get("value") is not None and v.get("ci95")}


def test_report_metrics_visible_and_offline_without_browser(toy_run):
    """report.html of a real run, parsed with html.parser: every metric in metrics.json is in a
    visible table row (name, value, CI), nothing is hidden by the page's CSS, and no element or
    style fetches anything from outside the file (it opens offline)."""
    page = _Page()
    page.feed((toy_run / "report.html").read_text(encoding="utf-8"))
    metrics = json.loads((toy_run / "metrics.json").read_text())
    want = _metric_rows(metrics["metrics"])
    assert metrics["primary"] in want and len(want) >= 3
    for name, row in want.items():
        assert row in page.rows, (name, row)
    visible = " ".join(" ".join(page.text).split())
    assert f"Metrics (primary: {metrics['primary']})" in visible
    css = " ".join(page.css).replace(" ", "").lower()
    assert "display:none" not in css and "visibility:hidden" not in css  # no CSS rule hides content
    assert "@import" not in css and "url(" not in css
    assert page.urls and all(u.startswith(("data:", "#")) for u in page.urls), \
        [u[:60] for u in page.urls if not u.startswith(("data:", "#"))]
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", (toy_run / "report.html").read_text(), re.I)


def _chromium() -> str | None:
    """A Chromium / Chrome binary: $VERTICALKIT_CHROMIUM, else the usual names on PATH."""
    import shutil

    if os.environ.get("VERTICALKIT_CHROMIUM"):
        return os.environ["VERTICALKIT_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                 "chrome-headless-shell", "headless_shell"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture
def browser():
    path = _chromium()
    if path is None:
        pytest.skip("no headless Chromium / Chrome found (set VERTICALKIT_CHROMIUM, or install one, e.g. "
                    "`apt-get install chromium`; `.ci/run` does); playwright's own browser download needs a network")
    return path


def _open_in_chromium(browser: str, page_file) -> dict:
    """Open ``page_file`` in headless Chromium (driven by playwright), offline: every request that
    is not file:// or data: is recorded and aborted. Returns what the page showed and did."""
    from playwright.sync_api import sync_playwright  # in the test extras

    seen: dict = {"outside": [], "errors": []}
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = chromium.new_context(offline=True).new_page()
            page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))

            def guard(route):
                if route.request.url.startswith(("file:", "data:")):
                    route.continue_()
                else:
                    seen["outside"].append(route.request.url)
                    route.abort()

            page.route("**/*", guard)
            page.goto(page_file.resolve().as_uri(), wait_until="load")
            seen["images"] = page.evaluate("""Array.from(document.images).map(i => ({
                src: i.src.slice(0, 40), complete: i.complete, width: i.naturalWidth,
                drawn: i.getBoundingClientRect().width}))""")
            seen["text"] = page.evaluate("document.body.innerText")
            seen["rows"] = page.evaluate("""Array.from(document.querySelectorAll('tr'))
                .filter(r => r.offsetParent !== null).map(r => Array.from(r.cells).map(c => c.innerText.trim()))""")
            seen["resources"] = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        finally:
            chromium.close()
    return seen


def _check_page(seen: dict) -> None:
    """Offline, no console error, every <img> decoded (naturalWidth > 0) and drawn."""
    assert seen["outside"] == [] and all(r.startswith(("data:", "file:")) for r in seen["resources"]), \
        (seen["outside"], seen["resources"])
    assert seen["errors"] == []
    images = seen["images"]
    assert len(images) >= 2 and all(i["complete"] and i["width"] > 0 and i["drawn"] > 0 for i in images), images


def test_report_renders_in_headless_chromium(browser, toy_run):
    """report.html of a real run in headless Chromium: offline, no console error, every plot drawn,
    and the metric rows of metrics.json rendered (innerText: laid out and not hidden)."""
    seen = _open_in_chromium(browser, toy_run / "report.html")
    _check_page(seen)
    metrics = json.loads((toy_run / "metrics.json").read_text())
    assert f"Metrics (primary: {metrics['primary']})" in seen["text"]
    for name, row in _metric_rows(metrics["metrics"]).items():
        assert row in seen["rows"], (name, row)


@pytest.mark.parametrize("tamper", ['<img src="https://example.com/logo.png">', '<img src="data:image/png;base64,AAAA">',
                                    "<script>console.error('boom')</script>"], ids=["remote", "broken-image", "console"])
def test_the_browser_check_rejects_a_bad_page(browser, toy_run, tmp_path, tamper):
    """The same check on a copy of the report with one fault added fails (the check can fail)."""
    bad = tmp_path / "bad.html"
    bad.write_text((toy_run / "report.html").read_text(encoding="utf-8").replace("</body>", tamper + "</body>"),
                   encoding="utf-8")
    with pytest.raises(AssertionError):
        _check_page(_open_in_chromium(browser, bad))
