"""Essay-scoring dataset adapters: the real ASAP file, AES 2.0 / ELLIPSE / generic CSV layouts, bad input."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from conftest import real_data

from verticalkit.core.errors import DataError
from verticalkit.verticals.essay_scoring.data import ASAP, ASAP_N_ESSAYS, ASAP_RANGES, EssayCSV, read_asap

ASAP_HEADER = ["essay_id", "essay_set", "essay", "rater1_domain1", "rater2_domain1", "rater3_domain1",
               "domain1_score"]


def test_read_asap_real_file_keeps_every_essay():
    folder = real_data("asap-aes")
    df = read_asap(folder / "training_set_rel3.tsv")
    assert len(df) == ASAP_N_ESSAYS == 12_978
    assert df["essay_id"].is_unique
    assert df.groupby("essay_set").size().tolist() == [1783, 1800, 1726, 1772, 1805, 1800, 1569, 723]
    # the stray double quote of essay 10534 must not swallow the next row
    assert 10534 in set(df["essay_id"]) and 10535 in set(df["essay_id"])
    for p, (lo, hi) in ASAP_RANGES.items():
        s = df.loc[df["essay_set"] == p, "domain1_score"]
        assert s.min() >= lo and s.max() <= hi
    # quoting undone: outer quotes off, doubled quotes halved (essay 20719 opens with a quoted title)
    assert df["essay"].str.contains('""', regex=False).sum() < 20  # was 3,500+ before unescaping
    assert df.set_index("essay_id").loc[20719, "essay"].startswith('"LAUGHTER"')


def test_default_csv_reader_would_merge_rows():
    folder = real_data("asap-aes")
    naive = pd.read_csv(folder / "training_set_rel3.tsv", sep="\t", encoding="latin-1")
    assert len(naive) < ASAP_N_ESSAYS  # the reason read_asap uses QUOTE_NONE


def test_asap_folds_partition_and_human_agreement():
    folder = real_data("asap-aes")
    from verticalkit.verticals.essay_scoring.metrics import human_qwk_mean

    s = ASAP(fold=3).load()
    assert len(s.train) + len(s.val) + len(s.test) == ASAP_N_ESSAYS
    assert not set(s.test.ids) & set(s.train.ids) and not set(s.val.ids) & set(s.train.ids)
    folds = pd.read_csv(folder / "folds.csv").set_index("essay_id")["fold"]
    assert set(folds.loc[s.test.ids]) == {3} and 3 not in set(folds.loc[s.train.ids])
    assert {"prompt", "score_min", "score_max", "rater1", "rater2", "flag"} <= set(s.test.meta.columns)
    assert s.test.meta["flag"].ne("").mean() < 0.01  # few real essays look out of distribution
    full = pd.concat([s.train.meta, s.val.meta, s.test.meta], ignore_index=True)
    assert human_qwk_mean(None, None, full) == pytest.approx(0.754, abs=0.002)


def _write_asap(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar=None, quotechar=None)
        w.writerow(ASAP_HEADER)
        for r in rows:
            w.writerow(r)
    pd.DataFrame({"essay_id": [r[0] for r in rows], "essay_set": [r[1] for r in rows],
                  "fold": [i % 5 for i in range(len(rows))]}).to_csv(path.with_name("folds.csv"), index=False)


def _asap_rows(n=40, prompt=3, score=2):
    return [[i + 1, prompt, f'"Essay number {i} says ""hi"" and the dog ran. The end."', score, score, "", score]
            for i in range(n)]


def test_asap_small_file_with_quotes(tmp_path):
    rows = _asap_rows()
    rows[5][2] = '"A stray " quote in the middle. It must not merge rows."'
    _write_asap(tmp_path / "training_set_rel3.tsv", rows)
    s = ASAP(path=tmp_path / "training_set_rel3.tsv", fold=0).load()
    assert len(s.train) + len(s.val) + len(s.test) == 40
    df = read_asap(tmp_path / "training_set_rel3.tsv")
    assert df.loc[5, "essay"].startswith("A stray")


def test_asap_score_outside_range_names_column_and_essay(tmp_path):
    rows = _asap_rows()
    rows[7][6] = 9  # prompt 3 is 0–3
    _write_asap(tmp_path / "training_set_rel3.tsv", rows)
    with pytest.raises(DataError, match=r"domain1_score.*prompt 3.*\[9(\.0)?\].*0–3.*essay_id \[8\]"):
        ASAP(path=tmp_path / "training_set_rel3.tsv").load()


def test_asap_unknown_prompt_is_a_data_error(tmp_path):
    rows = _asap_rows()
    rows[3][1] = 9
    _write_asap(tmp_path / "training_set_rel3.tsv", rows)
    with pytest.raises(DataError, match=r"essay_set.*row 5.*essay_id 4.*not an ASAP prompt"):
        ASAP(path=tmp_path / "training_set_rel3.tsv").load()


def test_asap_bad_fold_and_prompt(tmp_path):
    _write_asap(tmp_path / "training_set_rel3.tsv", _asap_rows())
    with pytest.raises(DataError, match="folds 0–4"):
        ASAP(path=tmp_path / "training_set_rel3.tsv", fold=7).load()
    with pytest.raises(DataError, match="unknown ASAP prompt"):
        ASAP(path=tmp_path / "training_set_rel3.tsv", prompt=11).load()


def _essays(n=60, seed=0):
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(["the", "dog", "ran", "far", "away", "quickly", "."], 30)) for _ in range(n)]
    return texts, rng.integers(1, 7, n)


def test_aes2_layout(tmp_path):
    texts, scores = _essays()
    pd.DataFrame({"essay_id": [f"e{i}" for i in range(60)], "full_text": texts, "score": scores}).to_csv(
        tmp_path / "train.csv", index=False)
    s = EssayCSV(path=tmp_path / "train.csv", score_min=1, score_max=6).load()
    assert len(s.train) + len(s.val) + len(s.test) == 60
    assert s.task.score_range == (1.0, 6.0) and s.task.primary_metric == "qwk"
    assert list(s.train.X.columns) == ["text", "prompt"]
    assert s.test.ids[0].startswith("e")


def test_ellipse_layout_one_trait_and_all_traits(tmp_path):
    texts, _ = _essays()
    rng = np.random.default_rng(1)
    traits = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]
    df = pd.DataFrame({"text_id": [f"t{i}" for i in range(60)], "full_text": texts})
    for t in traits:
        df[t] = rng.integers(2, 11, 60) / 2
    df.to_csv(tmp_path / "train.csv", index=False)
    one = EssayCSV(path=tmp_path / "train.csv", id_column="text_id", score_column="cohesion").load()
    assert one.train.y.ndim == 1 and one.task.score_range[0] >= 1.0
    allt = EssayCSV(path=tmp_path / "train.csv", id_column="text_id", score_column=",".join(traits),
                    score_min=1, score_max=5).load()
    assert allt.train.y.shape[1] == 6 and allt.task.classes == traits
    assert allt.task.kind == "multioutput" and allt.task.primary_metric == "mcrmse"


def test_ellipse_all_traits_from_the_cli_keep_half_steps(tmp_path):
    import json

    from verticalkit.core.tools.cli import main as cli
    from verticalkit.verticals.essay_scoring.tiny import synthetic_essays

    X, y = synthetic_essays(150, seed=4)
    q = (y - np.where(X["prompt"] == 1, 0, 1)) / np.where(X["prompt"] == 1, 3, 5)  # essay quality in [0, 1]
    rng = np.random.default_rng(2)
    traits = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]
    df = pd.DataFrame({"text_id": [f"t{i}" for i in range(150)], "full_text": X["text"]})
    for t in traits:
        df[t] = np.clip(np.round((1 + 4 * q + rng.normal(0, 0.4, 150)) * 2) / 2, 1, 5)
    df.to_csv(tmp_path / "train.csv", index=False)
    out = tmp_path / "run"
    assert cli(["train", "essay_scoring", "--dataset", "essay-csv", "--model", "traits", "--out", str(out),
                "--set", f"data.path={tmp_path / 'train.csv'}", "--set", "data.id_column=text_id",
                "--set", f"data.score_column={','.join(traits)}", "--set", "data.score_min=1",
                "--set", "data.score_max=5", "--set", "eval.n_bootstrap=30", "--set", "eval.report=false"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["primary"] == "mcrmse" and m["metrics"]["mcrmse"]["value"] < 1.0
    assert all(m["metrics"][f"rmse_{t}"]["ci95"][0] is not None for t in traits)
    preds = pd.read_parquet(out / "predictions.parquet")
    assert (preds["pred_cohesion"] % 1 != 0).any()  # half-step scores: no integer cut points


def test_generic_csv_with_string_prompts_and_latin1_bytes(tmp_path):
    texts, scores = _essays()
    texts[0] = "Caf\xe9 cr\xe8me, na\xefve \xfcber essay."
    df = pd.DataFrame({"id": range(60), "body": texts, "mark": scores, "task": ["a", "b"] * 30})
    (tmp_path / "train.csv").write_bytes(df.to_csv(index=False).encode("latin-1"))  # not UTF-8
    s = EssayCSV(path=tmp_path / "train.csv", text_column="body", score_column="mark", prompt_column="task",
                 id_column="id").load()
    allx = pd.concat([s.train.X, s.val.X, s.test.X])
    assert set(allx["prompt"]) == {"a", "b"}
    assert any("Café" in t for t in allx["text"])


def test_generic_csv_errors_name_the_column(tmp_path):
    texts, scores = _essays()
    df = pd.DataFrame({"essay_id": range(60), "full_text": texts, "score": scores})
    df.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError, match="column 'grade' not found"):
        EssayCSV(path=tmp_path / "train.csv", score_column="grade").load()
    with pytest.raises(DataError, match=r"column 'score' row \d+ holds .*outside 1–5"):
        EssayCSV(path=tmp_path / "train.csv", score_min=1, score_max=5).load()
    df["score"] = df["score"].astype(object)
    df.loc[4, "score"] = "seven"
    df.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError, match="column 'score' row 6 holds 'seven', not a number"):
        EssayCSV(path=tmp_path / "train.csv").load()
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty file"):
        EssayCSV(path=tmp_path / "empty.csv").load()


def test_empty_and_huge_essays_are_flagged_not_fatal(tmp_path):
    texts, scores = _essays()
    texts[1] = "   "
    texts[2] = "word " * 100_000
    pd.DataFrame({"essay_id": range(60), "full_text": texts, "score": scores}).to_csv(tmp_path / "train.csv",
                                                                                     index=False)
    s = EssayCSV(path=tmp_path / "train.csv").load()
    flags = pd.concat([p.meta.assign(id=p.ids) for p in (s.train, s.val, s.test)]).set_index("id")["flag"]
    assert flags["1"] == "empty"
    assert "too_long" in flags["2"]
