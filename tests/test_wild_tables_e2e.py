"""Own tables end to end with empty cells and a 5,000-value text column (issue #14 A).

These need the heads that accept NaN and high-cardinality categories (branch ``heads``:
gbdt, lightgbm): on a tree without that work they fail at the head's missing-value check.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from wild import wild_frame, write_wild

from verticalkit.core.tools.cli import main


@pytest.mark.parametrize("model", ["gbdt", "lightgbm"])
def test_wild_table_trains_and_predicts_raw_file(tmp_path, capsys, model):
    df = wild_frame(n=3000, seed=11, n_text_values=5000)  # ~30% empty cells, inf, 5,000-value text
    path = write_wild(df, tmp_path / "loans.csv", sep=";", encoding="latin-1")
    run = tmp_path / "run"
    assert main(["train", "fraud", "--dataset", "csv", "--model", model, "--out", str(run),
                 "--set", f"data.path={path}", "--set", "data.target=status",
                 "--set", "data.positive_label=Charged Off", "--set", "data.time_column=event_time",
                 "--set", "data.protocol=temporal"]) == 0, capsys.readouterr().err
    metrics = json.loads((run / "metrics.json").read_text())
    prevalence = float((df["status"] == "Charged Off").sum() / df["status"].notna().sum())
    assert metrics["metrics"]["auprc"]["value"] > prevalence + 0.15
    scores = tmp_path / "scores.parquet"
    assert main(["predict", str(run), "--input", str(path), "--output", str(scores), "--quiet"]) == 0
    got = pd.read_parquet(scores)
    assert len(got) == len(df) and np.isfinite(got["score"]).all()
    assert not (tmp_path / "scores.parquet.errors.csv").exists()


def test_unseen_and_empty_values_at_predict(tmp_path):
    df = wild_frame(n=2000, seed=12)
    path = write_wild(df, tmp_path / "t.csv")
    run = tmp_path / "run"
    assert main(["train", "fraud", "--dataset", "csv", "--model", "gbdt", "--out", str(run),
                 "--set", f"data.path={path}", "--set", "data.target=status",
                 "--set", "data.positive_label=Charged Off"]) == 0
    new = wild_frame(n=200, seed=99, n_text_values=50_000, missing=0.6)  # mostly unseen merchants, more gaps
    new.loc[:20, "amount"] = "n/a"
    new_path = write_wild(new, tmp_path / "new.csv")
    out = tmp_path / "s.csv"
    assert main(["predict", str(run), "--input", str(new_path), "--output", str(out), "--quiet"]) == 0
    got = pd.read_csv(out)
    assert len(got) == 200 and got["score"].between(0, 1).all()
