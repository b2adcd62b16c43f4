"""report.html (self-contained, escaped, shows the numbers) and model_card.md (YAML front matter)."""

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from verticalkit.core.config import EvalConfig
from verticalkit.core.data import Task
from verticalkit.core.evaluator import evaluate, metrics_json
from verticalkit.core.model_card import write_model_card
from verticalkit.core.report import write_report

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
