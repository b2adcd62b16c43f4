"""Messy essay CSVs (tests/wild_essays.py) end to end: prompt names, half points, BOM / cp1252 / Latin-1,
CRLF, ; and tab separators, empty texts and scores, a very long essay, a single-essay prompt, duplicates.
Every essay head trains on them, or the CLI stops with one ``error:`` line when the data cannot be used."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from wild_essays import PROMPTS, SINGLE, wild_essays, write_wild

from verticalkit.core.tools.cli import main
from verticalkit.core.errors import DataError
from verticalkit.verticals.essay_scoring.data import EssayCSV
from verticalkit.verticals.essay_scoring.metrics import adjacent_agreement, exact_agreement, qwk_per_prompt
from verticalkit.verticals.essay_scoring.scales import infer_step, score_scale, snap, to_ranks
from verticalkit.verticals.essay_scoring.thresholds import apply_cutpoints, fit_cutpoints

HALF = "Afterschool homework club"


def _train(tmp_path, file, model="features", *extra):
    out = tmp_path / f"run-{model}"
    code = main(["train", "essay_scoring", "--dataset", "essay-csv", "--model", model, "--out", str(out),
                 "--set", f"data.path={file}", "--set", "data.prompt_column=prompt",
                 "--set", "eval.n_bootstrap=20", *extra])
    return code, out


def _on_scale(preds: pd.DataFrame) -> None:
    """Every prediction lies on its prompt's scale (the model's own, from the training scores)."""
    for prompt, (lo, hi, step) in PROMPTS.items():
        p = preds.loc[preds["prompt"].astype(str) == prompt, "prediction"].to_numpy()
        assert len(p) and p.min() >= lo and p.max() <= hi, prompt
        assert np.allclose((p - lo) / step, np.rint((p - lo) / step)), prompt


# ----------------------------------------------------------------------------- scales, QWK and cut points
def test_scale_inference_whole_half_and_continuous():
    assert score_scale([1, 2.5, 5.0, 3]) == (1.0, 5.0, 0.5)
    assert score_scale([2, 12, 7]) == (2.0, 12.0, 1.0)
    assert infer_step([1.25, 1.5, 2.0]) == 0.25
    assert infer_step([0.123, 0.5, 0.77]) is None  # continuous: clipped, not snapped
    assert to_ranks([1.0, 1.4, 1.6, 9, -3], 1.0, 5.0, 0.5).tolist() == [0, 1, 1, 8, 0]
    assert snap([1.26, 4.9, 7.0], 1.0, 5.0, 0.5).tolist() == [1.5, 5.0, 5.0]
    assert snap([1.26, 7.0], 1.0, 5.0, None).tolist() == [1.26, 5.0]


def test_half_point_qwk_is_qwk_on_ranks_and_keys_are_names():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 9, 200) / 2 + 1  # 1.0 .. 5.0 in halves
    pred = np.clip(np.round((y + rng.normal(0, 0.5, 200)) * 2) / 2, 1, 5)
    meta = pd.DataFrame({"prompt": [HALF] * 100 + ["Café & société: «été»"] * 100})
    per = qwk_per_prompt(y, pred, meta)
    assert set(per) == set(meta["prompt"])
    m = slice(0, 100)
    want = cohen_kappa_score(((y[m] - 1) * 2).astype(int), ((pred[m] - 1) * 2).astype(int), weights="quadratic",
                             labels=np.arange(9))
    assert per[HALF] == pytest.approx(want)
    # the old whole-point rounding merged 1.5 with 2.0 (and 2.5 with 2.0): a different, wrong figure
    assert per[HALF] != pytest.approx(cohen_kappa_score(np.rint(y[m]).astype(int), np.rint(pred[m]).astype(int),
                                                        weights="quadratic"), abs=1e-6)
    # agreement counts levels of the scale: 3.5 vs 3.0 is adjacent, not exact
    assert exact_agreement([3.0, 3.0], [3.5, 3.0], pd.DataFrame({"prompt": ["a", "a"], "score_step": 0.5})) == 0.5
    assert adjacent_agreement([3.0], [4.0], pd.DataFrame({"prompt": ["a"], "score_min": 1.0, "score_max": 5.0,
                                                          "score_step": 0.5})) == 0.0


def test_cut_points_on_a_half_point_scale():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 9, 300) / 2 + 1
    raw = y + rng.normal(0, 0.3, 300) + 0.2  # biased upwards: the cut points move to absorb it
    cut = fit_cutpoints(y, raw, 1.0, 5.0, 0.5)
    assert len(cut) == 8
    pred = apply_cutpoints(raw, cut, 1.0, 0.5)
    assert set(np.unique(pred)) <= set(np.arange(1.0, 5.01, 0.5))
    assert np.mean(pred == y) > np.mean(snap(raw, 1.0, 5.0, 0.5) == y)


# ----------------------------------------------------------------------------- the adapter
@pytest.mark.parametrize("encoding, sep", [("utf-8-sig", ","), ("cp1252", ";"), ("latin-1", "\t"), ("utf-8", ";")])
def test_wild_csv_reads_in_every_encoding_and_separator(tmp_path, capsys, encoding, sep):
    file = write_wild(tmp_path / "wild.csv", wild_essays(), encoding=encoding, sep=sep)
    s = EssayCSV(path=file, prompt_column="prompt").load()
    err = capsys.readouterr().err
    assert "3 rows with no score in 'score' left out" in err and "2 exact duplicate rows left out" in err
    assert "1 essays of 1 prompt(s) with under 10 essays go to training only" in err
    allx = pd.concat([s.train.X, s.val.X, s.test.X], ignore_index=True)
    assert len(allx) == 181 - 3 and set(allx["prompt"]) == {*PROMPTS, SINGLE}  # 7, 7.0 and " 7 " are one prompt
    assert SINGLE in set(s.train.X["prompt"]) and SINGLE not in set(s.test.X["prompt"])
    assert set(s.test.X["prompt"]) == set(PROMPTS)
    assert any("café naïve" in t for t in allx["text"]) and not any("\r" in t for t in allx["text"])
    assert s.train.X.columns[0] == "text" and not any(c.startswith("\ufeff") for c in s.train.X.columns)
    meta = pd.concat([s.train.meta, s.test.meta]).groupby("prompt")[["score_min", "score_max", "score_step"]].first()
    for prompt, scale in PROMPTS.items():
        assert tuple(meta.loc[prompt]) == scale


def test_explicit_encoding_and_bad_encoding(tmp_path):
    file = write_wild(tmp_path / "wild.csv", wild_essays(), encoding="cp1252")
    s = EssayCSV(path=file, prompt_column="prompt", encoding="cp1252").load()
    assert any("“quoted”" in t for t in s.train.X["text"])
    with pytest.raises(DataError, match=r"wild.csv: cannot be read as 'utf-8'.*data.encoding"):
        EssayCSV(path=file, prompt_column="prompt", encoding="utf-8").load()


def test_unusable_data_is_one_error_line(tmp_path, capsys):
    for kwargs, needle in [({"bad_score": True}, "column 'score' row 22 holds 'four', not a number"),
                           ({"conflicting_id": True}, "column 'essay_id' repeats ids on different essays")]:
        file = write_wild(tmp_path / "bad.csv", wild_essays(**kwargs))
        code, out = _train(tmp_path, file)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and not out.exists()
        assert err[-1].startswith("error: ") and needle in err[-1] and "bad.csv" in err[-1]
        assert not any("Traceback" in line for line in err)


def test_score_step_given_checks_every_score(tmp_path):
    file = write_wild(tmp_path / "wild.csv", wild_essays())
    with pytest.raises(DataError, match=r"prompt 'Afterschool homework club' holds scores off the "
                                        r"data.score_step=1 scale"):
        EssayCSV(path=file, prompt_column="prompt", score_step=1).load()


# ----------------------------------------------------------------------------- every head, end to end
def test_features_head_end_to_end_on_wild_csv(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VERTICALKIT_ESSAY_ROBUSTNESS_N", "12")  # the report's robustness table on names
    file = write_wild(tmp_path / "wild.csv", wild_essays(), encoding="cp1252", sep=";")
    code, out = _train(tmp_path, file)
    assert code == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert 0.3 < m["metrics"]["qwk"]["value"] <= 1.0 and m["metrics"]["qwk"]["ci95"][0] is not None
    preds = pd.read_parquet(out / "predictions.parquet")
    _on_scale(preds)
    assert (preds.loc[preds["prompt"] == HALF, "prediction"] % 1 == 0.5).any()  # half points predicted
    assert "Robustness" in (out / "report.html").read_text(encoding="utf-8")
    # the saved model keeps each prompt's scale; batch predict reads the prompt names
    from verticalkit.core.heads.predictor import Predictor

    head = Predictor.load(out / "model").head
    assert head.steps_[HALF] == 0.5 and head.steps_["7"] == 1.0 and head.ranges_[SINGLE] == [3.0, 3.0]
    sample = pd.DataFrame({"text": ["Consequently the evidence demonstrates a significant perspective."] * 3,
                           "prompt": [HALF, "7.0", SINGLE]})
    pred = Predictor.load(out / "model").predict_score(sample)
    assert pred[2] == 3.0 and (pred[0] - 1) % 0.5 == 0 and pred[1] % 1 == 0
    src = tmp_path / "score_me.csv"
    sample.to_csv(src, index=False)
    assert main(["predict", str(out), "--input", str(src), "--output", str(tmp_path / "s.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "s.parquet")["prediction"].tolist() == pytest.approx(pred.tolist())


def test_traits_head_on_wild_csv_with_a_half_point_trait_with_holes(tmp_path, capsys):
    file = write_wild(tmp_path / "wild.csv", wild_essays(), encoding="utf-8-sig", sep="\t")
    code, out = _train(tmp_path, file, "traits", "--set", "data.score_column=score,organization",
                       "--set", "eval.report=false")
    assert code == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["primary"] == "mcrmse" and np.isfinite(m["metrics"]["qwk_organization"]["value"])
    preds = pd.read_parquet(out / "predictions.parquet")
    org = preds["pred_organization"].dropna().to_numpy()
    assert np.allclose(org * 2, np.rint(org * 2)) and org.min() >= 1 and org.max() <= 5


@pytest.mark.slow
def test_encoder_head_on_wild_csv(tmp_path, capsys):
    file = write_wild(tmp_path / "wild.csv", wild_essays(n=90), encoding="latin-1")
    code, out = _train(tmp_path, file, "encoder", "--set", "model_params.max_chunks=2",
                       "--set", "model_params.window=64", "--set", "model_params.stride=64",
                       "--set", "eval.report=false")
    assert code == 0, capsys.readouterr().err
    _on_scale(pd.read_parquet(out / "predictions.parquet"))


@pytest.mark.slow
@pytest.mark.parametrize("head", ["regression", "ordinal"])
def test_finetune_head_on_wild_csv(tmp_path, capsys, head):
    from verticalkit.verticals.essay_scoring import VERTICAL

    tiny = VERTICAL.check_configs["finetune"]
    sets = [f"train.{k}={v}" for k, v in tiny["train"].items()] + \
           [f"model_params.{k}={v}" for k, v in tiny["model_params"].items()] + [f"model_params.head={head}"]
    file = write_wild(tmp_path / "wild.csv", wild_essays(n=60), encoding="utf-8")
    code, out = _train(tmp_path, file, "finetune", *[a for s in sets for a in ("--set", s)],
                       "--set", "eval.report=false")
    assert code == 0, capsys.readouterr().err
    _on_scale(pd.read_parquet(out / "predictions.parquet"))
