"""The robustness suite: perturbations, score shifts, the report section and the module CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.predictor import Predictor
from verticalkit.verticals.essay_scoring.models import FeaturesHead
from verticalkit.verticals.essay_scoring.robustness import PERTURBATIONS, prompt_keywords, report_section, run_suite
from verticalkit.verticals.essay_scoring.tiny import tiny_data

ESSAY = ("Computers help people learn. They also let friends talk every day.\n\n"
         "However, too much screen time is bad. People should go outside and exercise.")


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_each_perturbation_changes_the_text_deterministically(name):
    fn = PERTURBATIONS[name]
    a = fn(ESSAY, np.random.default_rng(0), ["computers", "friends"])
    b = fn(ESSAY, np.random.default_rng(0), ["computers", "friends"])
    assert a == b and a != ESSAY and a.strip()


def test_perturbation_specifics():
    rng = np.random.default_rng(0)
    assert PERTURBATIONS["paragraphs_repeated"](ESSAY, rng, []).count("Computers help people learn") == 2
    gib = PERTURBATIONS["gibberish"](ESSAY, rng, [])
    assert len(gib.split()) == len(ESSAY.split()) and "Computers" not in gib
    assert len(PERTURBATIONS["length_padding"](ESSAY, rng, []).split()) >= 2 * len(ESSAY.split()) - 5
    assert sorted(PERTURBATIONS["sentences_shuffled"](ESSAY, rng, []).split()) == sorted(ESSAY.split())
    assert "computers" in PERTURBATIONS["keywords_stuffed"](ESSAY, rng, ["computers"]).split()[-1]


def test_prompt_keywords_skip_stop_words():
    kw = prompt_keywords(["The computers are great for students", "computers help students a lot"] * 3, k=2)
    assert kw == ["computers", "students"]


@pytest.fixture(scope="module")
def fitted():
    s = tiny_data(0)
    head = FeaturesHead().fit(s.train.X, s.train.y, s.val.X, s.val.y)
    return s, Predictor(head, vertical="essay_scoring", model="features", dataset=s.dataset, task=s.task)


def test_suite_reports_a_shift_per_perturbation(fitted):
    s, pred = fitted
    table = run_suite(pred, s.test.X, n=40, keyword_texts=s.train.X)
    assert table["perturbation"].tolist() == ["none", *PERTURBATIONS]
    assert table.loc[0, "mean_shift"] == 0
    assert table[["mean_shift", "mean_abs_shift", "share_up", "share_flagged"]].notna().all().all()
    row = table.set_index("perturbation")
    # gibberish is off-vocabulary: the flags send it to a human
    assert row.loc["gibberish", "share_flagged"] > 0.9
    assert row.loc["paragraphs_repeated", "share_flagged"] > 0.5


def test_report_section_writes_the_table(fitted, tmp_path, monkeypatch):
    s, pred = fitted
    monkeypatch.setenv("VERTICALKIT_ESSAY_ROBUSTNESS_N", "20")
    [(title, body)] = report_section(pred, s, pred.predict_score(s.test.X), tmp_path)
    assert "Robustness" in title and "gibberish" in body
    assert len(pd.read_csv(tmp_path / "robustness.csv")) == len(PERTURBATIONS) + 1
    monkeypatch.setenv("VERTICALKIT_ESSAY_ROBUSTNESS_N", "0")
    assert report_section(pred, s, None, tmp_path) == []
