"""Trait scores: the ASAP++ adapter (real file when present, small written file) and the multi-output head."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import real_data

from verticalkit.core.errors import ConfigError, DataError
from verticalkit.verticals.essay_scoring.tiny import synthetic_essays
from verticalkit.verticals.essay_scoring.data import read_asap, read_asap_traits
from verticalkit.verticals.essay_scoring.traits import (TRAITS, ASAPPlusPlus, TraitsHead, mcrmse,
                                                        read_asap_plusplus, trait_table)


def test_real_asap_plusplus_file():
    folder = real_data("asap-plusplus")
    df = read_asap_plusplus(folder / "traits_prompts1-6.tsv")
    assert len(df) == 10_684 and set(df["essay_set"]) == {1, 2, 3, 4, 5, 6}
    assert df["cts_split"].value_counts().to_dict() == {"train": 6409, "test": 2139, "dev": 2136}
    s = ASAPPlusPlus(trait="Organization", prompts_7_8=False).load()
    assert set(s.train.X["prompt"]) == {1, 2}  # Organization exists for prompts 1-2 only
    assert s.protocol == "cts-split" and s.task.target == "Organization"


def test_real_prompts_7_8_traits_come_from_the_asap_rater_columns():
    real_data("asap-plusplus")
    asap = real_data("asap-aes") / "training_set_rel3.tsv"
    df = read_asap_traits(asap)
    assert df["essay_set"].value_counts().to_dict() == {7: 1569, 8: 723}
    raw = read_asap(asap).set_index("essay_id")
    row = df.iloc[0]
    assert row["Content"] == raw.loc[row["essay_id"], "rater1_trait1"] + raw.loc[row["essay_id"], "rater2_trait1"]
    p7, p8 = df[df["essay_set"] == 7], df[df["essay_set"] == 8]
    assert p7["Content"].between(0, 6).all() and p8["Conventions"].between(2, 12).all()
    assert p7["Word Choice"].isna().all() and p8["Word Choice"].notna().all()
    s = ASAPPlusPlus(trait="Organization").load()
    assert set(s.train.X["prompt"]) == {1, 2, 7, 8} and s.protocol == "cts-split+asap-folds-7-8"


def _write(path, n=90):
    X, y = synthetic_essays(n)
    rng = np.random.default_rng(0)
    prompt = np.where(X["prompt"] == 1, 3, 1)  # ASAP++ prompts 3 (0-3) and 1 (1-6)
    df = pd.DataFrame({"cts_split": np.array(["train", "train", "dev", "test"] * n)[:n], "essay_id": range(n),
                       "essay_set": prompt, "essay": ['"' + t + '"' for t in X["text"]], "score": y})
    for t in TRAITS:
        df[t] = np.nan
    lo = np.where(prompt == 3, 0, 1)
    hi = np.where(prompt == 3, 3, 6)
    for t in ("Content",):
        df[t] = np.clip(np.rint(lo + (y - y.min()) / (y.max() - y.min()) * (hi - lo) + rng.normal(0, .3, n)), lo, hi)
    df.loc[prompt == 1, "Organization"] = np.clip(df.loc[prompt == 1, "Content"] + rng.integers(-1, 2, (prompt == 1).sum()), 1, 6)
    df.loc[prompt == 3, "Narrativity"] = df.loc[prompt == 3, "Content"]
    df.to_csv(path, sep="\t", index=False, quoting=3)
    return df


def test_adapter_on_a_small_file(tmp_path):
    _write(tmp_path / "traits_prompts1-6.tsv")
    s = ASAPPlusPlus(path=tmp_path / "traits_prompts1-6.tsv", trait="Narrativity", prompts_7_8=False).load()
    assert set(s.train.X["prompt"]) == {3}
    assert not s.train.X["text"].str.startswith('"').any()
    with pytest.raises(ConfigError, match="data.trait='Style'"):
        ASAPPlusPlus(path=tmp_path / "traits_prompts1-6.tsv", trait="Style", prompts_7_8=False).load()


def test_trait_out_of_range_is_a_data_error(tmp_path):
    df = _write(tmp_path / "traits_prompts1-6.tsv")
    df.loc[df.index[df["essay_set"] == 3][0], "Content"] = 7
    df.to_csv(tmp_path / "traits_prompts1-6.tsv", sep="\t", index=False, quoting=3)
    with pytest.raises(DataError, match="column 'Content' of prompt 3 is outside 0–3"):
        ASAPPlusPlus(path=tmp_path / "traits_prompts1-6.tsv", trait="Content", prompts_7_8=False).load()


def test_multi_output_head_predicts_each_trait_where_it_exists():
    X, y = synthetic_essays(200)
    Y = np.full((200, 3), np.nan)
    Y[:, 0] = y
    Y[X["prompt"] == 1, 1] = np.clip(y[X["prompt"] == 1] + 1, 0, 3)
    Y[X["prompt"] == 2, 2] = y[X["prompt"] == 2]
    tr, va, te = np.arange(0, 140), np.arange(140, 170), np.arange(170, 200)
    head = TraitsHead().fit(X.iloc[tr].reset_index(drop=True), Y[tr], X.iloc[va].reset_index(drop=True), Y[va])
    P = head.predict(X.iloc[te].reset_index(drop=True))
    assert P.shape == (30, 3)
    assert np.array_equal(np.isnan(P), np.isnan(Y[te]))  # NaN exactly where the prompt lacks the trait
    meta = pd.DataFrame({"prompt": X["prompt"].to_numpy()[te]})
    table = trait_table(Y[te], P, meta, ["holistic", "t1", "t2"])
    assert table["n"].tolist() == [30, int((~np.isnan(Y[te, 1])).sum()), int((~np.isnan(Y[te, 2])).sum())]
    assert table["qwk"].min() > 0.5
    assert mcrmse(Y[te], P) == pytest.approx(table["rmse"].mean())


def _write_asap_7_8(folder, n=60):
    """A small ASAP file of prompts 7 (traits 0-3 per rater, 4 traits) and 8 (1-6, 6 traits) + folds.csv."""
    X, y = synthetic_essays(n, seed=3)
    rng = np.random.default_rng(1)
    prompt = np.where(X["prompt"] == 1, 7, 8)
    rows = []
    for i in range(n):
        q = (y[i] - (0 if X["prompt"][i] == 1 else 1)) / (3 if X["prompt"][i] == 1 else 5)  # quality in [0, 1]
        lo, hi, k = (0, 3, 4) if prompt[i] == 7 else (1, 6, 6)
        t1 = [int(np.clip(round(lo + q * (hi - lo) + rng.normal(0, .4)), lo, hi)) for _ in range(6)]
        t2 = [int(np.clip(round(lo + q * (hi - lo) + rng.normal(0, .4)), lo, hi)) for _ in range(6)]
        t1[k:], t2[k:] = [""] * (6 - k), [""] * (6 - k)
        rows.append([i + 1, prompt[i], '"' + X["text"][i] + '"', sum(t1[:k]), sum(t2[:k]), "",
                     sum(t1[:k]) + sum(t2[:k]), *t1, *t2, *[""] * 6])
    header = ["essay_id", "essay_set", "essay", "rater1_domain1", "rater2_domain1", "rater3_domain1", "domain1_score",
              *[f"rater{r}_trait{k}" for r in (1, 2, 3) for k in range(1, 7)]]
    lines = ["\t".join(header)] + ["\t".join(map(str, r)) for r in rows]
    (folder / "training_set_rel3.tsv").write_text("\n".join(lines) + "\n")
    pd.DataFrame({"essay_id": np.arange(1, n + 1), "essay_set": prompt, "fold": np.arange(n) % 5}).to_csv(
        folder / "folds.csv", index=False)
    return rows


def test_prompts_7_8_traits_are_the_sum_of_the_two_raters(tmp_path):
    rows = _write_asap_7_8(tmp_path)
    df = read_asap_traits(tmp_path / "training_set_rel3.tsv")
    first7 = next(r for r in rows if r[1] == 7)
    got = df[df["essay_id"] == first7[0]].iloc[0]
    t1, t2 = first7[7:13], first7[13:19]
    assert got["Content"] == t1[0] + t2[0] and got["Organization"] == t1[1] + t2[1]
    assert got["Conventions"] == t1[3] + t2[3]  # trait 3 of prompt 7 is Style: no ASAP++ counterpart
    assert np.isnan(got["Word Choice"])
    first8 = next(r for r in rows if r[1] == 8)
    got8 = df[df["essay_id"] == first8[0]].iloc[0]
    assert got8["Word Choice"] == first8[7 + 3] + first8[13 + 3]  # trait 4 of prompt 8 (3 is Voice)
    assert set(df.loc[df["essay_id"] % 5 == 1, "cts_split"]) == {"test"}  # fold 0 (ids 1, 6, ...) is the test split
    # each rater's trait score is kept for the human-human agreement
    assert (got["rater1_content"], got["rater2_content"]) == (t1[0], t2[0])
    assert (got8["rater1_word_choice"], got8["rater2_word_choice"]) == (first8[7 + 3], first8[13 + 3])
    assert np.isnan(got["rater1_word_choice"])


def _human(df, trait):
    """Rater 1 vs rater 2 QWK of a trait, mean over prompts 7-8, straight from scikit-learn."""
    from sklearn.metrics import cohen_kappa_score

    vals = [cohen_kappa_score(g[f"rater1_{trait}"].astype(int), g[f"rater2_{trait}"].astype(int), weights="quadratic")
            for _, g in df.dropna(subset=[f"rater1_{trait}"]).groupby("essay_set")]
    return float(np.mean(vals))


def _files(tmp_path, n=160):
    """A small ASAP++ file (prompts 1 and 3) and a small ASAP file (prompts 7-8 with rater traits)."""
    df = _write(tmp_path / "traits_prompts1-6.tsv", n=n)
    df["cts_split"] = np.array(["train", "train", "train", "dev", "test"] * n)[:n]  # both prompts in each split
    df.to_csv(tmp_path / "traits_prompts1-6.tsv", sep="\t", index=False, quoting=3)
    asap = tmp_path / "asap"
    asap.mkdir()
    _write_asap_7_8(asap, n=100)
    return tmp_path / "traits_prompts1-6.tsv", asap


def test_traits_table_puts_rater_agreement_beside_the_model(tmp_path, capsys):
    import json

    from verticalkit.verticals.essay_scoring.traits import main

    plus, asap = _files(tmp_path)
    out = tmp_path / "table.json"
    assert main(["--path", str(plus), "--asap-path", str(asap), "--out", str(out)]) == 0
    rows = {r["trait"]: r for r in json.loads(out.read_text())}
    raters = read_asap_traits(asap / "training_set_rel3.tsv")
    test = raters[raters["cts_split"] == "test"]
    for trait, key in (("Content", "content"), ("Conventions", "conventions"), ("Word Choice", "word_choice")):
        r = rows[trait]
        assert r["human_qwk"] == pytest.approx(_human(test, key), abs=1e-4)  # the same test essays
        assert r["human_qwk_all_essays"] == pytest.approx(_human(raters, key), abs=1e-4)
        assert r["n_double_rated"] == int(test[f"rater1_{key}"].notna().sum()) > 0
        assert r["n_all_essays"] == int(raters[f"rater1_{key}"].notna().sum())
        assert r["qwk_double_rated"] is not None and r["human_raters"].startswith("prompts 7-8")
    # Narrativity exists for ASAP++ prompt 3 only: one annotation per essay, no human figure
    nar = rows["Narrativity"]
    assert nar["human_qwk"] is None and nar["n_double_rated"] == 0 and nar["human_raters"].startswith("none")
    assert nar["qwk_prompts_1_6"] == nar["qwk"]
    assert rows["Content"]["prompts"] == "1,3,7,8" and rows["Content"]["qwk_prompts_1_6"] is not None
    assert "human_qwk_all_essays" in capsys.readouterr().out
    # ASAP++ prompts 1-6 only: no trait has a second rater
    assert main(["--path", str(plus), "--asap-path", str(asap), "--no-prompts-7-8", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert all(r["human_qwk"] is None and r["n_double_rated"] == 0 and "7" not in r["prompts"] for r in rows)


def test_traits_from_the_cli_write_per_trait_qwk_and_mcrmse_with_cis(tmp_path, capsys):
    import json

    from verticalkit.core.tools.cli import main as cli

    plus, asap = _files(tmp_path)
    out = tmp_path / "run"
    code = cli(["train", "essay_scoring", "--dataset", "asap-plusplus", "--model", "traits", "--out", str(out),
                "--set", f"data.path={plus}", "--set", f"data.asap_path={asap}",
                "--set", "data.trait=all", "--set", "eval.n_bootstrap=50", "--set", "eval.report=false"])
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["primary"] == "qwk"
    for name in ("qwk", "mcrmse", "qwk_content", "rmse_content", "qwk_organization", "qwk_word_choice",
                 "qwk_narrativity", "rmse_conventions"):
        v = m["metrics"][name]
        assert v["value"] is not None and None not in v["ci95"], name
    assert "qwk_language" not in m["metrics"]  # no prompt of these files has Language
    # human agreement beside the model: rater 1 vs rater 2 of each trait on the same test essays (prompts 7-8)
    raters = read_asap_traits(asap / "training_set_rel3.tsv")
    test = raters[raters["cts_split"] == "test"]
    assert m["metrics"]["human_qwk_content"]["value"] == pytest.approx(_human(test, "content"))
    assert m["metrics"]["human_qwk_word_choice"]["value"] == pytest.approx(_human(test, "word_choice"))
    assert None not in m["metrics"]["human_qwk_content"]["ci95"]
    assert m["metrics"]["qwk_double_rated_content"]["value"] is not None
    assert m["metrics"]["human_qwk_narrativity"]["value"] is None  # ASAP++ prompt 3: one annotation per essay
    per = [m["metrics"][f"rmse_{t}"]["value"] for t in ("content", "organization", "word_choice", "sentence_fluency",
                                                        "conventions", "narrativity")]
    assert m["metrics"]["mcrmse"]["value"] == pytest.approx(np.mean(per))
    preds = pd.read_parquet(out / "predictions.parquet")
    assert {"target_Content", "pred_Content", "pred_Word Choice"} <= set(preds.columns)
    p3 = preds["prompt"] == 3
    assert p3.any() and preds.loc[p3, "pred_Word Choice"].isna().all() and preds.loc[p3, "pred_Content"].notna().all()
    # batch prediction: an empty essay is scored and flagged, an unknown prompt goes to the errors file
    essays = pd.DataFrame({"text": [synthetic_essays(1)[0]["text"][0], "", "an essay"], "prompt": [3, 7, 9]})
    essays.to_csv(tmp_path / "in.csv", index=False)
    assert cli(["predict", str(out), "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "scored.csv"),
                "--quiet"]) == 0
    scored = pd.read_csv(tmp_path / "scored.csv").set_index("id")
    assert scored.index.tolist() == [0, 1] and scored.loc[1, "flag"] == "empty"
    assert np.isfinite(scored.loc[1, "pred_Content"]) and np.isnan(scored.loc[0, "pred_Word Choice"])
    errors = pd.read_csv(tmp_path / "scored.csv.errors.csv")
    assert errors["id"].tolist() == [2] and "prompt(s) ['9']" in errors["error"][0]
    # one essay from the command line: a score per trait, null where prompt 3 has no such trait
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("essay_example", Path(__file__).parents[1] / "examples" /
                                                  "essay_scoring.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(["--out", str(out), "--prompt", "3", "--score", synthetic_essays(1)[0]["text"][0]]) == 0
    got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= got["score"]["Narrativity"] <= 3 and got["score"]["Word Choice"] is None


def test_bad_input_on_the_traits_path():
    """The issue's bad-input list against the traits head: a flag or a clear error, never a crash."""
    from verticalkit.core.heads.predictor import Predictor
    from verticalkit.verticals.essay_scoring.tiny import tiny_traits

    s = tiny_traits(0)
    head = TraitsHead().fit(s.train.X, s.train.y, s.val.X, s.val.y)
    pred = Predictor(head, vertical="essay_scoring", model="traits", dataset=s.dataset, task=s.task)
    base = s.test.X.loc[s.test.X["prompt"] == 1, "text"].iloc[0]
    X = pd.DataFrame({"text": ["", "   \n ", "word " * 100_000, base, "Caf\ufffd na\xefve", None],
                      "prompt": [1, 1, 2, 1, 2, 2]}, dtype=object)
    X.loc[5, "text"] = b"Latin-1 bytes: caf\xe9 cr\xe8me \xff"  # not UTF-8
    P = pred.predict_score(X)
    assert P.shape == (6, 2) and np.isfinite(P[:, 0]).all()
    assert np.isfinite(P[X["prompt"] == 1, 1]).all() and np.isnan(P[X["prompt"] == 2, 1]).all()
    flags = head.review_flags(X)
    assert flags[0] == "empty" and flags[1] == "empty" and "too_long" in flags[2] and flags[3] == ""
    with pytest.raises(DataError, match=r"column 'prompt'.*\['9'\].*known prompts: \['1', '2'\]"):
        pred.predict_score(pd.DataFrame({"text": [base], "prompt": [9]}))
    assert head.review_flags(pd.DataFrame({"text": [base], "prompt": [9]})).tolist() == ["unknown_prompt"]


def test_review_flags_use_a_head_that_knows_the_prompt():
    """The first trait may exist on some prompts only: the others' essays are not flagged unknown_prompt."""
    from verticalkit.verticals.essay_scoring.tiny import tiny_traits

    s = tiny_traits(0)
    head = TraitsHead().fit(s.train.X, s.train.y[:, ::-1])  # first trait: Organization, prompt 1 only
    flags = head.review_flags(s.test.X)
    assert "unknown_prompt" not in set(flags)
    whole = TraitsHead().fit(s.train.X, s.train.y[:, :1])
    assert flags.tolist() == whole.review_flags(s.test.X).tolist()  # the same training essays per prompt


def test_training_trait_score_outside_the_range_is_a_data_error(tmp_path):
    """ASAP prompts 7-8: one rater's trait score outside 0-3 is an error even where the sum is in range."""
    _write_asap_7_8(tmp_path)
    df = read_asap(tmp_path / "training_set_rel3.tsv")
    i = df.index[(df["essay_set"] == 7) & (df["rater2_trait1"] == 0)][0]
    lines = (tmp_path / "training_set_rel3.tsv").read_text().splitlines()
    cells = lines[i + 1].split("\t")
    cells[7] = "5"  # rater1_trait1 = 5 on a 0-3 scale; the sum 5 is inside prompt 7's 0-6
    lines[i + 1] = "\t".join(cells)
    (tmp_path / "training_set_rel3.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"column 'rater1_trait1' of prompt 7 holds \[5(\.0)?\] outside 0–3"):
        read_asap_traits(tmp_path / "training_set_rel3.tsv")


def test_human_section_only_where_the_data_has_rater_columns():
    from verticalkit.core.data.adapter import DatasetSplits, Split
    from verticalkit.verticals.essay_scoring.tiny import tiny_traits
    from verticalkit.verticals.essay_scoring.traits import human_section

    s = tiny_traits(0)
    P = np.where(np.isnan(s.test.y), np.nan, np.clip(s.test.y + 1, 0, 6))
    [(title, body)] = human_section(s, P)
    assert title == "Human agreement per trait" and "one annotation per essay" in body  # Content: no second rater
    parts = [Split(p.X, p.y, p.ids, meta=p.meta[["prompt", "score_min", "score_max", "flag"]])
             for p in (s.train, s.val, s.test)]
    assert human_section(DatasetSplits(s.dataset, s.task, *parts, s.protocol), P) == []  # e.g. ELLIPSE
