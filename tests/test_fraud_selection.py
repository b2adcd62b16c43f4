"""Fraud: model choice by forward-chaining CV inside a temporal training period (selection.py),
and the merge of benchmark figures into reference_results.yaml (benchmarks/fraud_quality.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from verticalkit.core.errors import ConfigError
from verticalkit.verticals.fraud.data import ULBCreditCard
from verticalkit.verticals.fraud.selection import compare_heads, forward_chaining_folds, training_period

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def _ulb_like(tmp_path: Path, n: int = 600) -> pd.DataFrame:
    """A ULB-layout file whose rows are written out of time order; V1 is unique per row."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(size=(n, 28)), columns=[f"V{i}" for i in range(1, 29)])
    df.insert(0, "Time", rng.permutation(np.arange(n) * 10.0))
    df["Amount"] = rng.gamma(2, 40, n).round(2)
    df["Class"] = ((df["V2"] + rng.normal(size=n)) > 1.5).astype(int)
    df.to_csv(tmp_path / "creditcard.csv", index=False)
    return df


def test_forward_chaining_folds_train_before_validate():
    folds = forward_chaining_folds(103, n_blocks=5, first=2)
    assert len(folds) == 3
    blocks = np.array_split(np.arange(103), 5)
    for k, (tr, va) in zip((2, 3, 4), folds):
        assert np.array_equal(va, blocks[k])
        assert np.array_equal(tr, np.arange(va[0]))  # every row before the block, none after
    assert folds[-1][1][-1] == 102
    with pytest.raises(ConfigError, match="first=5"):
        forward_chaining_folds(103, n_blocks=5, first=5)


def test_training_period_is_train_and_val_sorted_without_test(tmp_path):
    df = _ulb_like(tmp_path)
    splits = ULBCreditCard(path=tmp_path, protocol="temporal").load()
    X, y, t = training_period(splits)
    assert len(y) == len(splits.train) + len(splits.val) == 480
    assert np.all(np.diff(t) >= 0)
    assert t.max() < splits.test.meta["time"].min()
    assert not set(X["V1"]) & set(splits.test.X["V1"])
    by_v1 = df.set_index("V1")
    assert np.array_equal(by_v1.loc[X["V1"], "Time"].to_numpy(), t)  # rows and times stay aligned
    assert np.array_equal(by_v1.loc[X["V1"], "Class"].to_numpy(), y)


def test_training_period_needs_a_time(tmp_path):
    from verticalkit.verticals.fraud.data import GermanCredit

    with pytest.raises(ConfigError, match="temporal"):
        training_period(GermanCredit(fold=0, n_folds=5).load())


def test_compare_heads_reads_no_row_after_the_training_cut(tmp_path):
    df = _ulb_like(tmp_path)
    splits = ULBCreditCard(path=tmp_path, protocol="temporal").load()
    cut = splits.test.meta["time"].min()
    time_of = df.set_index("V1")["Time"]
    seen: list[tuple[np.ndarray, np.ndarray, int]] = []

    def spy(X, y, n_val, X_score):  # noqa: ANN001, ANN202
        t_fit, t_score = time_of.loc[X["V1"]].to_numpy(), time_of.loc[X_score["V1"]].to_numpy()
        seen.append((t_fit, t_score, n_val))
        return {"spy": X_score["V2"].to_numpy()}

    X, y, _ = training_period(splits)
    rows = compare_heads(X, y, {"spy": spy}, log=None)
    assert len(seen) == 3 and rows[0]["candidate"] == "spy"
    for t_fit, t_score, n_val in seen:
        assert t_fit.max() < cut and t_score.max() < cut  # the test period is never handed to a head
        assert t_fit.max() <= t_score.min()  # a fold fits only on rows before the block it scores
        assert np.all(np.diff(t_fit) >= 0)  # time order kept: the last n_val rows are the latest
        assert n_val == round(len(t_fit) * 0.125)


def test_compare_heads_scores_ranks_and_averages():
    rng = np.random.default_rng(0)
    n = 1000
    y = (rng.random(n) < 0.2).astype(int)
    X = pd.DataFrame({"good": y + rng.normal(0, 0.5, n), "bad": y + rng.normal(0, 3.0, n)})

    def column(name: str):  # noqa: ANN202
        return lambda X, y, n_val, X_score: {name: X_score[name].to_numpy()}

    rows = compare_heads(X, y, {"bad": column("bad"), "good": column("good")}, averages=[("good", "bad")],
                         log=None)
    names = [r["candidate"] for r in rows]
    assert names[0] == "good" and names[-1] == "bad" and "good+bad (probability average)" in names
    assert [r["cv_auprc"] for r in rows] == sorted((r["cv_auprc"] for r in rows), reverse=True)
    va = forward_chaining_folds(n)[-1][1]
    avg = next(r for r in rows if r["candidate"].startswith("good+bad"))
    expected = average_precision_score(y[va], (X["good"].to_numpy()[va] + X["bad"].to_numpy()[va]) / 2)
    assert eval(avg["per_block"])[-1] == pytest.approx(expected, abs=1e-4)  # noqa: S307 - our own str(list)


def test_blend_forest_equals_the_forest_head():
    """The head CV reads the forest's scores from the blend's forest: the same model as the forest head."""
    from verticalkit.verticals.fraud import tiny_data
    from verticalkit.verticals.fraud.models import BlendHead, ForestHead

    s = tiny_data()
    blend = BlendHead(C=1.0, n_estimators=15, random_state=3).fit(s.train.X, s.train.y)
    forest = ForestHead(n_estimators=15, random_state=3).fit(s.train.X, s.train.y)
    assert np.array_equal(blend.forest_.predict_proba(s.test.X), forest.predict_proba(s.test.X))


def test_write_merges_a_subset_into_the_reference_file(tmp_path):
    import yaml
    from fraud_quality import write_entries

    def entry(model: str, metric: str, value: float) -> dict:
        return {"dataset": "d", "protocol": "p", "model": model, "metric": metric, "value": value}

    path = tmp_path / "reference_results.yaml"
    path.write_text(yaml.safe_dump([entry("a", "auprc", 0.1), entry("b", "auprc", 0.2), entry("a", "roc", 0.3)]))
    write_entries(path, [entry("a", "auprc", 0.9), entry("c", "auprc", 0.5)])
    got = yaml.safe_load(path.read_text())
    assert [(e["model"], e["metric"], e["value"]) for e in got] == [
        ("a", "auprc", 0.9), ("b", "auprc", 0.2), ("a", "roc", 0.3), ("c", "auprc", 0.5)]
