"""Trait scores: the ASAP++ adapter (real file when present, small written file) and the multi-output head."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import real_data

from verticalkit.core.errors import ConfigError, DataError
from verticalkit.verticals.essay_scoring.tiny import synthetic_essays
from verticalkit.verticals.essay_scoring.traits import (TRAITS, ASAPPlusPlus, TraitsHead, mcrmse,
                                                        read_asap_plusplus, trait_table)


def test_real_asap_plusplus_file():
    folder = real_data("asap-plusplus")
    df = read_asap_plusplus(folder / "traits_prompts1-6.tsv")
    assert len(df) == 10_684 and set(df["essay_set"]) == {1, 2, 3, 4, 5, 6}
    assert df["cts_split"].value_counts().to_dict() == {"train": 6409, "test": 2139, "dev": 2136}
    s = ASAPPlusPlus(trait="Organization").load()
    assert set(s.train.X["prompt"]) == {1, 2}  # Organization exists for prompts 1-2 only
    assert s.protocol == "cts-split" and s.task.target == "Organization"


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
    s = ASAPPlusPlus(path=tmp_path / "traits_prompts1-6.tsv", trait="Narrativity").load()
    assert set(s.train.X["prompt"]) == {3}
    assert not s.train.X["text"].str.startswith('"').any()
    with pytest.raises(ConfigError, match="data.trait='Style'"):
        ASAPPlusPlus(path=tmp_path / "traits_prompts1-6.tsv", trait="Style").load()


def test_trait_out_of_range_is_a_data_error(tmp_path):
    df = _write(tmp_path / "traits_prompts1-6.tsv")
    df.loc[df.index[df["essay_set"] == 3][0], "Content"] = 7
    df.to_csv(tmp_path / "traits_prompts1-6.tsv", sep="\t", index=False, quoting=3)
    with pytest.raises(DataError, match="column 'Content' of prompt 3 is outside 0–3"):
        ASAPPlusPlus(path=tmp_path / "traits_prompts1-6.tsv", trait="Content").load()


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
