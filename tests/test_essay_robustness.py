"""The robustness suite: perturbations, score shifts, the report section and the module CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.heads.predictor import Predictor
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


def fit_predictor(s, head, model: str):  # noqa: ANN001, ANN201
    """``(splits, Predictor)`` of ``head`` fitted on the tiny splits ``s``."""
    head.fit(s.train.X, s.train.y, s.val.X, s.val.y)
    return s, Predictor(head, vertical="essay_scoring", model=model, dataset=s.dataset, task=s.task)


@pytest.fixture(scope="module")
def fitted():
    return fit_predictor(tiny_data(0), FeaturesHead(), "features")


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


@pytest.fixture(scope="module")
def fitted_traits():
    from verticalkit.verticals.essay_scoring.tiny import tiny_traits
    from verticalkit.verticals.essay_scoring.traits import TraitsHead

    return fit_predictor(tiny_traits(0), TraitsHead(), "traits")


def test_suite_on_a_traits_model_gives_the_shift_per_trait(fitted_traits):
    s, pred = fitted_traits
    table = run_suite(pred, s.test.X, n=40, keyword_texts=s.train.X)
    assert table["perturbation"].tolist() == ["none", *PERTURBATIONS]
    assert {"mean_shift_range", "mean_abs_shift_range", "share_up", "share_flagged", "Content",
            "Organization"} <= set(table.columns)
    row = table.set_index("perturbation")
    assert (row.loc["none", ["mean_shift_range", "Content", "Organization"]] == 0).all()
    assert row[["Content", "Organization"]].notna().all().all()
    # the mean over traits of each trait's shift as a share of its range (prompt 1: 0-3, prompt 2: 1-6)
    for name in ("gibberish", "length_padding"):
        assert row.loc[name, "mean_shift_range"] == pytest.approx(row.loc[name, ["Content", "Organization"]].mean())
    assert row.loc["gibberish", "Content"] < 0 and row.loc["gibberish", "share_flagged"] > 0.9
    # by hand for one perturbation: Organization exists on prompt 1 only, range 0-3
    from verticalkit.verticals.essay_scoring.robustness import sample_essays

    sample = sample_essays(s.test.X, 40, 0)
    keywords = prompt_keywords(list(s.train.X.loc[s.train.X["prompt"] == 1, "text"]))
    p1 = sample[sample["prompt"] == 1].reset_index(drop=True)
    rng = np.random.default_rng(0)
    texts = [PERTURBATIONS["length_padding"](t, rng, keywords) for t in sample["text"]]
    moved = pred.predict_score(pd.DataFrame({"text": texts, "prompt": sample["prompt"]}))
    shift = (moved - pred.predict_score(sample))[(sample["prompt"] == 1).to_numpy(), 1]
    assert len(shift) == len(p1) and row.loc["length_padding", "Organization"] == pytest.approx(np.mean(shift) / 3)


def test_traits_report_sections_write_robustness_and_human_agreement(fitted_traits, tmp_path, monkeypatch):
    import json

    from verticalkit.verticals.essay_scoring import VERTICAL

    s, pred = fitted_traits
    monkeypatch.setenv("VERTICALKIT_ESSAY_ROBUSTNESS_N", "20")
    sections = dict(VERTICAL.report_sections(pred, s, pred.predict_score(s.test.X), tmp_path))
    assert set(sections) == {"Human agreement per trait", "Robustness to perturbed essays"}
    assert "Organization" in sections["Robustness to perturbed essays"]
    assert "one annotation per essay" in sections["Human agreement per trait"]
    rows = json.loads((tmp_path / "robustness.json").read_text())
    assert [r["perturbation"] for r in rows] == ["none", *PERTURBATIONS]
    assert all(isinstance(r["Content"], float) and isinstance(r["Organization"], float) for r in rows)
    # only prompt 2 sampled: Organization (prompt 1 only) has no shift -> null, not NaN, in the JSON
    only2 = s.test.X[s.test.X["prompt"] == 2].reset_index(drop=True)
    table = run_suite(pred, only2, n=10, keyword_texts=s.train.X)
    assert table["Organization"].isna().all() and table["Content"].notna().all()
    from verticalkit.verticals.essay_scoring.robustness import write_json

    write_json(tmp_path / "r2.json", table)
    assert all(r["Organization"] is None for r in json.loads((tmp_path / "r2.json").read_text()))
