"""Fraud heads on messy tables (the csv adapter's contract): numerics with NaN (60% in most
columns) and ±inf, a constant column, a 0/1 flag, a text column with thousands of values
(nulls included), a pandas category column; unseen categories at predict time. Every head
trains, predicts, reloads and (where it has one) exports with ONNX parity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.config import TrainConfig
from verticalkit.core.serve.export import TOLERANCE, export, run_exported
from verticalkit.core.heads.predictor import Predictor
from verticalkit.core.train.run import input_schema
from verticalkit.core.heads.torch_head import standalone_context
from verticalkit.verticals.fraud import VERTICAL, explain
from verticalkit.verticals.fraud.models import OTHER, GBDTHead, LogRegHead, ScorecardHead


def messy_frame(n: int, seed: int, n_num: int = 8, n_values: int = 5000) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    signal = np.zeros(n)
    for j in range(n_num):
        v = rng.normal(size=n)
        if j < 3:
            signal += v
        v[rng.random(n) < (0.6 if j % 4 else 0.05)] = np.nan
        cols[f"num_{j}"] = v
    cols["num_0"][rng.random(n) < 0.02] = np.inf
    cols["num_1"][rng.random(n) < 0.02] = -np.inf
    cols["const"] = np.full(n, 3.0)
    cols["flag"] = (rng.random(n) < 0.3).astype(float)
    merchant = rng.integers(0, n_values, n)  # thousands of distinct values, most seen once or twice
    frequent = rng.random(n) < 0.4  # ... and 20 frequent ones
    merchant[frequent] %= 20
    text = pd.Series([f"m{v}" for v in merchant], dtype="string")
    text[rng.random(n) < 0.1] = None
    cols["merchant"] = text
    cols["channel"] = pd.Categorical(rng.choice(["web", "pos", "atm", None], size=n))
    signal += 1.5 * (merchant % 7 == 0) + 0.8 * (np.asarray(cols["channel"]) == "web")
    y = (signal + rng.normal(size=n) > 1.5).astype(int)
    return pd.DataFrame(cols), y


PARAMS = {"gbdt": {"max_iter": 30}, "forest": {"n_estimators": 15}, "blend": {"n_estimators": 15, "C": 0.1},
          "lightgbm": {"n_estimators": 40}, "xgboost": {"n_estimators": 40}, "mlp": {"hidden": (16,)},
          "ft_transformer": {"d_token": 8, "n_layers": 1, "n_heads": 2}, "gbdt_mlp": {"gbdt": {"max_iter": 20}}}
TABULAR = ["logreg", "gbdt", "forest", "blend", "scorecard", "lightgbm", "xgboost", "mlp", "ft_transformer",
           "gbdt_mlp"]
EXPORTABLE = ["logreg", "gbdt", "forest", "blend", "scorecard", "lightgbm", "xgboost", "mlp", "ft_transformer"]


@pytest.fixture(scope="module")
def data():
    X, y = messy_frame(3000, 0)
    Xv, yv = messy_frame(400, 1)
    Xt, _ = messy_frame(300, 2)
    Xt["merchant"] = Xt["merchant"].astype(object)
    Xt.loc[:9, "merchant"] = "never seen"  # unseen categories, one unseen in the category column
    Xt["channel"] = Xt["channel"].cat.add_categories(["phone"])
    Xt.loc[10:14, "channel"] = "phone"
    assert X["merchant"].nunique() > 1000
    return X, y, Xv, yv, Xt


def fit(name, X, y, Xv, yv):
    context = dataclasses.replace(standalone_context(y), seed=0,
                                  train=TrainConfig(epochs=2, progress=False, patience=None))
    return VERTICAL.models[name](**PARAMS.get(name, {})).fit(X, y, Xv, yv, context=context)


@pytest.fixture(scope="module")
def trained():
    return {}  # filled lazily (get): each head is trained once for the module


def get(trained, data, name):
    if name not in trained:
        X, y, Xv, yv, _ = data
        trained[name] = fit(name, X, y, Xv, yv)
    return trained[name]


@pytest.mark.parametrize("name", TABULAR)
def test_trains_predicts_and_reloads_on_messy_table(name, data, trained, tmp_path):
    X, y, Xv, yv, Xt = data
    head = get(trained, data, name)
    p = head.predict_proba(Xt)[:, 1]
    assert p.shape == (len(Xt),) and np.all((p >= 0) & (p <= 1))
    assert len(np.unique(np.round(p, 6))) > 10  # not a constant: the model learnt something
    head.save(tmp_path / "m")
    again = type(head).load(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(Xt)[:, 1], p, atol=1e-6)
    inf = Xt.assign(num_2=np.inf)  # ±inf is read as a missing value
    np.testing.assert_allclose(head.predict_proba(inf)[:, 1], head.predict_proba(Xt.assign(num_2=np.nan))[:, 1],
                               atol=1e-9)


@pytest.mark.parametrize("name", EXPORTABLE)
def test_onnx_parity_on_messy_table(name, data, trained, tmp_path):
    X, y, Xv, yv, Xt = data
    head = get(trained, data, name)
    predictor = Predictor(head, vertical="fraud", model=name, dataset="csv", task=standalone_context(y).task,
                          input_schema=input_schema(X))
    doc = export(predictor, tmp_path / "onnx", "onnx")
    assert doc["parity"]["max_abs_diff"] <= TOLERANCE
    got = run_exported(tmp_path / "onnx", None, Xt, predictor=predictor)
    np.testing.assert_allclose(got, predictor.predict_score(Xt), atol=TOLERANCE, rtol=0)


def test_high_cardinality_is_cut_to_frequent_plus_other(data):
    """Over 255 categories crashed HistGradientBoosting ("cardinality <= 255"): now the most
    frequent are kept and the rest, unseen ones included, are (other)."""
    X, y, Xv, yv, Xt = data
    head = GBDTHead(max_iter=5).fit(X, y)
    kept = head.category_levels_["merchant"]
    assert len(kept) == head.max_categories - 1
    counts = pd.Series(head._raw_categories(X, "merchant")).value_counts()
    assert counts[kept].min() >= counts.drop(kept).max()  # the most frequent ones
    assert "channel" not in head.category_levels_  # a short column keeps every category
    assert list(head._categories(Xt.iloc[:3], "merchant")) == [OTHER] * 3  # "never seen"


def test_linear_imputer_is_fitted_on_training_rows_and_saved(data, tmp_path):
    X, y, *_ = data
    head = LogRegHead().fit(X, y)
    imputer = head.model_.named_steps["pre"].named_transformers_["num"].named_steps["impute"]
    finite = X[head.numeric_features_].replace([np.inf, -np.inf], np.nan)
    np.testing.assert_allclose(imputer.statistics_, finite.median().fillna(0.0).to_numpy())
    # one indicator per column with NaN in training (the constant and the flag have none)
    assert [head.numeric_features_[j] for j in imputer.indicator_.features_] == [f"num_{j}" for j in range(8)]


def test_scorecard_missing_has_its_own_bin_and_points(data):
    X, y, *_ = data
    card = ScorecardHead(min_iv=0.0).fit(X, y)
    table = card.points_table()
    assert card.bins_["num_1"]["has_missing"]
    rows = table[(table["attribute"] == "num_1") & (table["bin"] == "missing")]
    assert len(rows) == 1 and rows["count"].iloc[0] > 0.5 * len(X)
    assert "missing" in card.bins_["merchant"]["labels"]  # null text keeps its own bin, however rare


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_booster_is_seeded_stops_early_and_gives_reasons(name, data, trained, tmp_path):
    X, y, Xv, yv, Xt = data
    a = get(trained, data, name)
    b = fit(name, X, y, Xv, yv)
    np.testing.assert_allclose(a.predict_proba(Xt), b.predict_proba(Xt), atol=1e-12)
    long = VERTICAL.models[name](n_estimators=2000, early_stopping_rounds=5, learning_rate=0.3).fit(X, y, Xv, yv)
    assert long.n_iter_ < 2000
    predictor = Predictor(a, vertical="fraud", model=name, dataset="csv", task=standalone_context(y).task)
    reasons = explain(predictor, Xt.iloc[:5], k=3)
    assert len(reasons) == 5 and all(len(r) <= 3 for r in reasons)
    assert any("log-odds" in r for row in reasons for r in row)
    saved = tmp_path / "m"
    a.save(saved)
    assert not any(f.suffix in (".pkl", ".pickle", ".skops") for f in saved.iterdir())


def test_booster_progress_lines_and_log(data, tmp_path, capsys):
    X, y, Xv, yv, _ = data
    context = dataclasses.replace(standalone_context(y), seed=0, log_dir=tmp_path,
                                  train=TrainConfig(progress=True))
    VERTICAL.models["lightgbm"](n_estimators=120, early_stopping_rounds=200).fit(X, y, Xv, yv, context=context)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("lightgbm: iteration")]
    assert 2 <= len(lines) <= 10 and "best" in lines[-1]
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert log["iteration"].iloc[-1] == 120 and log["best_val_score"].notna().all()


def test_gbdt_progress_per_iteration_leaves_the_fit_unchanged(data, tmp_path, capsys, monkeypatch):
    """A long gbdt fit printed nothing for minutes: now a line per few iterations (iteration,
    elapsed, validation score, best) and train_log.csv, with the same trees as a silent fit."""
    X, y, Xv, yv, Xt = data
    monkeypatch.delenv("VERTICALKIT_PROGRESS", raising=False)
    params = dict(max_iter=120, n_iter_no_change=15, learning_rate=0.3, random_state=0)
    silent = GBDTHead(**params).fit(X, y, Xv, yv)
    capsys.readouterr()
    context = dataclasses.replace(standalone_context(y), seed=0, log_dir=tmp_path, train=TrainConfig(progress=True))
    shown = GBDTHead(**params)
    shown.fit(X, y, Xv, yv, context=context)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("gbdt: iteration")]
    assert lines and f"iteration {shown.n_iter_}/120" in lines[-1] and "best" in lines[-1]
    assert "average_precision" in lines[-1]
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert log["iteration"].iloc[-1] == shown.n_iter_ and log["best_val_score"].notna().all()
    best = max(shown.model_.validation_score_)
    assert log["best_val_score"].iloc[-1] == pytest.approx(best, abs=1e-6)
    assert shown.n_iter_ == silent.n_iter_ < 120  # early stopping still stops, at the same iteration
    np.testing.assert_allclose(shown.predict_proba(Xt), silent.predict_proba(Xt), atol=1e-12)
    assert "_should_stop" not in vars(shown.model_)  # nothing of the hook is kept (or saved)
    shown.save(tmp_path / "m")
    np.testing.assert_allclose(GBDTHead.load(tmp_path / "m").predict_proba(Xt), silent.predict_proba(Xt),
                               atol=1e-12)


def test_gbdt_progress_is_quiet_when_switched_off(data, tmp_path, capsys, monkeypatch):
    X, y, Xv, yv, _ = data
    monkeypatch.setenv("VERTICALKIT_PROGRESS", "0")
    context = dataclasses.replace(standalone_context(y), seed=0, log_dir=tmp_path, train=TrainConfig(progress=True))
    GBDTHead(max_iter=60, n_iter_no_change=10, learning_rate=0.3).fit(X, y, Xv, yv, context=context)
    assert "gbdt:" not in capsys.readouterr().err
    assert (tmp_path / "train_log.csv").is_file()  # the log is still written
