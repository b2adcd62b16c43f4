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


# -- benchmarks/fraud_temporal_selection.py: a fixed search space, the test period read once ------


@pytest.fixture
def fraud_registered():
    from fraud_quality import ensure_registered

    ensure_registered()


def test_every_candidate_resolves_on_the_temporal_protocol(fraud_registered):
    """The fixed search space is valid as written: a typo in a candidate's parameters fails here,
    not after the CV of the others has run."""
    import fraud_temporal_selection as fts

    assert len(fts.CANDIDATES) >= 6
    for name, (model, _) in fts.CANDIDATES.items():
        cfg = fts.resolved(name)
        assert cfg.model == model and cfg.data["protocol"] == "temporal" and cfg.seed == fts.SEED


def test_run_config_fitter_holds_out_the_latest_rows_unless_val_size_is_0(fraud_registered, tmp_path, monkeypatch):
    import fraud_temporal_selection as fts

    from verticalkit.verticals.fraud.models import GBDTHead
    from verticalkit.verticals.fraud.selection import run_config_fitter

    _ulb_like(tmp_path)
    splits = ULBCreditCard(path=tmp_path, protocol="temporal").load()
    X, y, _ = training_period(splits)
    seen = []
    fit = GBDTHead.fit

    def spy(self, X, y, X_val=None, y_val=None, context=None):  # noqa: ANN001, ANN202
        seen.append((X["V1"].to_numpy(), None if X_val is None else X_val["V1"].to_numpy(), self.random_state))
        return fit(self, X, y, X_val, y_val, context=context)

    monkeypatch.setattr(GBDTHead, "fit", spy)
    for name in ("gbdt", "gbdt [lr 0.1, 600 it, no early stopping, whole period]"):
        cfg = fts.resolved(name, {"path": str(tmp_path)})
        cfg.model_params["max_iter"] = 20
        out = run_config_fitter(cfg, splits.task, name)(X.iloc[:300], y[:300], 40, X.iloc[300:])
        assert list(out) == [name] and out[name].shape == (len(X) - 300,)
    (fit_es, val_es, seed), (fit_all, val_all, _) = seen
    assert seed == fts.SEED
    assert np.array_equal(fit_es, X["V1"].to_numpy()[:260]) and np.array_equal(val_es, X["V1"].to_numpy()[260:300])
    assert np.array_equal(fit_all, X["V1"].to_numpy()[:300]) and val_all is None  # val_size 0: every row trains


def test_cross_validation_never_reads_the_test_period(fraud_registered, tmp_path, monkeypatch):
    import fraud_temporal_selection as fts

    from verticalkit.verticals.fraud.models import LogRegHead

    _ulb_like(tmp_path)
    splits = ULBCreditCard(path=tmp_path, protocol="temporal").load()
    test_v1, period_v1 = set(splits.test.X["V1"]), set(training_period(splits)[0]["V1"])
    seen: set[float] = set()
    fit, proba = LogRegHead.fit, LogRegHead.predict_proba

    def spy_fit(self, X, y, X_val=None, y_val=None, context=None):  # noqa: ANN001, ANN202
        seen.update(X["V1"])
        seen.update([] if X_val is None else X_val["V1"])
        return fit(self, X, y, X_val, y_val, context=context)

    def spy_proba(self, X):  # noqa: ANN001, ANN202
        seen.update(X["V1"])
        return proba(self, X)

    monkeypatch.setattr(LogRegHead, "fit", spy_fit)
    monkeypatch.setattr(LogRegHead, "predict_proba", spy_proba)
    rows = fts.cross_validate(["logreg"], {"path": str(tmp_path)})
    assert [r["candidate"] for r in rows] == ["logreg"] and 0 < rows[0]["cv_auprc"] <= 1
    assert seen == period_v1 and not seen & test_v1  # every training-period row, no test row


def test_pick_is_the_best_cv_and_ties_go_to_the_earlier_candidate():
    import fraud_temporal_selection as fts

    names = list(fts.CANDIDATES)
    rows = [{"candidate": names[2], "cv_auprc": 0.7}, {"candidate": names[1], "cv_auprc": 0.8},
            {"candidate": names[0], "cv_auprc": 0.8}]
    assert fts.pick(rows) == names[0]
    rows[2]["cv_auprc"] = 0.79
    assert fts.pick(rows) == names[1]


def test_the_pick_is_trained_by_the_kit_and_its_entries_are_valid(fraud_registered, tmp_path):
    """The pick's test figures (one verticalkit train run) make reference entries the
    vertical's loader accepts, with the selection recorded."""
    import dataclasses

    import yaml
    from fraud_temporal_selection import COMMAND, evaluate_pick, reference_entries

    from verticalkit.core.train.reproduce import load_reference_results
    from verticalkit.verticals.fraud import VERTICAL

    _ulb_like(tmp_path)
    rows = [{"candidate": "logreg", "cv_auprc": 0.61, "per_block": "[0.6, 0.62, 0.61]"},
            {"candidate": "gbdt", "cv_auprc": 0.55, "per_block": "[0.5, 0.6, 0.55]"}]
    final = evaluate_pick("logreg", tmp_path / "runs", {"path": str(tmp_path)})
    entries = reference_entries("logreg", rows, final)
    assert [(e["model"], e["metric"]) for e in entries] == [("logreg", "auprc"), ("logreg", "roc_auc")]
    for e in entries:
        assert e["protocol"] == "temporal-80-20" and e["measured_by"] == COMMAND
        assert e["config"]["data"]["protocol"] == "temporal"
        assert e["selection"]["picked"] == "logreg" and e["selection"]["cv_auprc"] == 0.61
        assert "logreg: 0.6100" in e["note"] and "gbdt 0.5500" in e["note"]
        lo, hi = e["ci95"]
        assert 0 <= lo <= e["value"] <= hi <= 1
    path = tmp_path / "reference_results.yaml"
    path.write_text(yaml.safe_dump(entries))
    assert len(load_reference_results(dataclasses.replace(VERTICAL, reference_results=path))) == 2


def test_gbdt_mlp_candidate_is_the_average_of_the_gbdt_and_mlp_candidates(fraud_registered, tmp_path):
    """The CV scores gbdt_mlp from the gbdt's and the mlp's fits (AVERAGES): that is the head
    ``verticalkit train`` fits for the pick, as long as the three share seeds, rows and settings."""
    import fraud_temporal_selection as fts

    from verticalkit.verticals.fraud.selection import run_config_fitter

    _ulb_like(tmp_path)
    splits = ULBCreditCard(path=tmp_path, protocol="temporal").load()
    X, y, _ = training_period(splits)
    data = {"path": str(tmp_path)}
    out = {}
    for name in ("gbdt_mlp", *fts.AVERAGES["gbdt_mlp"]):
        cfg = fts.resolved(name, data)
        cfg.train.epochs = 3
        out.update(run_config_fitter(cfg, splits.task, name)(X.iloc[:360], y[:360], 45, X.iloc[360:]))
    assert np.allclose(out["gbdt_mlp"], (out["gbdt"] + out["mlp"]) / 2, atol=1e-6)
    assert not np.allclose(out["gbdt"], out["mlp"], atol=1e-3)  # two different models, not one twice


def test_averaged_candidates_keep_their_name(fraud_registered, tmp_path):
    import fraud_temporal_selection as fts

    _ulb_like(tmp_path)
    rows = fts.cross_validate(["gbdt", "mlp", "gbdt_mlp"], {"path": str(tmp_path)})  # from its parts' fits
    assert sorted(r["candidate"] for r in rows) == ["gbdt", "gbdt_mlp", "mlp"]
    assert next(r for r in rows if r["candidate"] == "gbdt_mlp")["config"] == "defaults"


def test_selection_without_the_data_is_one_error_line(fraud_registered, tmp_path, monkeypatch, capsys):
    import fraud_temporal_selection as fts

    monkeypatch.setenv("VERTICALKIT_DATA", str(tmp_path))  # no ulb-creditcard there
    before = (fts.ROOT / "verticals" / "fraud" / "reference_results.yaml").read_text()
    assert fts.main(["--write"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "ulb-creditcard" in err[0]
    assert (fts.ROOT / "verticals" / "fraud" / "reference_results.yaml").read_text() == before
