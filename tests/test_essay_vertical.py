"""End to end through the core pipeline: train on an essay CSV, metrics.json's primary is the per-prompt QWK,
predictions carry review flags, report.html has the robustness table, the robustness CLI and batch predict run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.tools.cli import main as cli
from verticalkit.core.train.run import build_config, train
from verticalkit.verticals.essay_scoring.metrics import qwk_mean
from verticalkit.verticals.essay_scoring.tiny import synthetic_essays


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import os

    tmp = tmp_path_factory.mktemp("essay-run")
    X, y = synthetic_essays(300, seed=1)
    texts = X["text"].tolist()
    texts[0] = ""  # an empty essay is flagged, not fatal
    pd.DataFrame({"essay_id": [f"e{i}" for i in range(300)], "full_text": texts, "score": y,
                  "prompt": X["prompt"]}).to_csv(tmp / "train.csv", index=False)
    os.environ["VERTICALKIT_ESSAY_ROBUSTNESS_N"] = "20"
    try:
        cfg = build_config("essay_scoring", "essay-csv", "features", str(tmp / "run"),
                           sets=[f"data.path={tmp / 'train.csv'}", "data.prompt_column=prompt", "eval.n_bootstrap=50"])
        return train(cfg)
    finally:
        os.environ.pop("VERTICALKIT_ESSAY_ROBUSTNESS_N", None)


def test_primary_metric_is_the_per_prompt_mean_qwk(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert m["primary"] == "qwk"
    meta = preds[["prompt", "score_min", "score_max"]]
    assert m["metrics"]["qwk"]["value"] == pytest.approx(qwk_mean(preds["target"], preds["prediction"], meta))
    assert {r["group"] for r in m["subgroups"]["prompt"]} == {"1", "2"}


def test_predictions_carry_review_flags_and_report_has_robustness(run_dir):
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert "flag" in preds.columns
    html = (run_dir / "report.html").read_text()
    assert "Robustness to perturbed essays" in html and "keywords_stuffed" in html
    assert (run_dir / "robustness.csv").is_file()


def test_robustness_cli(run_dir, capsys):
    from verticalkit.verticals.essay_scoring.robustness import main

    assert main([str(run_dir), "--n", "10"]) == 0
    out = capsys.readouterr().out
    assert "gibberish" in out and (run_dir / "robustness.json").is_file()


def test_batch_predict_scores_good_rows_and_reports_bad_ones(run_dir, tmp_path):
    X, _ = synthetic_essays(6, seed=5)
    X.loc[1, "text"] = ""
    X.loc[2, "prompt"] = 9  # unknown prompt: goes to the errors file, the rest is scored
    X.to_csv(tmp_path / "in.csv", index=False)
    assert cli(["predict", str(run_dir), "--input", str(tmp_path / "in.csv"), "--output",
                str(tmp_path / "out.csv"), "--quiet"]) == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 5 and np.all(np.isfinite(out["prediction"]))
    flags = out.set_index("id")["flag"].fillna("")
    assert flags[1] != "" and (flags.drop(1) == "").sum() >= 3  # the empty essay goes to a human
    errors = pd.read_csv(tmp_path / "out.csv.errors.csv")
    assert errors["id"].tolist() == [2] and "not in the training data" in errors["error"][0]


def test_training_score_outside_range_is_a_clean_cli_error(tmp_path, capsys):
    X, y = synthetic_essays(40)
    pd.DataFrame({"essay_id": range(40), "full_text": X["text"], "score": y + 10}).to_csv(tmp_path / "t.csv",
                                                                                         index=False)
    code = cli(["train", "essay_scoring", "--dataset", "essay-csv", "--model", "features", "--out",
                str(tmp_path / "r"), "--set", f"data.path={tmp_path / 't.csv'}", "--set", "data.score_min=0",
                "--set", "data.score_max=6"])
    assert code == 2
    assert "column 'score'" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_score_one_essay_from_the_command_line(run_dir, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("essay_example", Path(__file__).parents[1] / "examples" /
                                                  "essay_scoring.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    X, _ = synthetic_essays(1, seed=9)
    assert example.main(["--out", str(run_dir), "--prompt", "2", "--score", X["text"][0]]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["prompt"] == 2 and 1 <= got["score"] <= 6 and got["flag"] == ""
    (tmp_path / "essay.txt").write_bytes("Caf\xe9 cr\xe8me ".encode("latin-1") * 3)  # not UTF-8
    assert example.main(["--out", str(run_dir), "--prompt", "1", "--score-file", str(tmp_path / "essay.txt")]) == 0
    assert json.loads(capsys.readouterr().out)["flag"] != ""  # short and off-vocabulary: for a human
    assert example.main(["--out", str(run_dir), "--prompt", "1", "--score", "   "]) == 0
    assert json.loads(capsys.readouterr().out)["flag"] == "empty"
    assert example.main(["--out", str(run_dir), "--prompt", "9", "--score", X["text"][0]]) == 2
    assert "prompt(s) ['9'] were not in the training data" in capsys.readouterr().err
