"""Baselines beside every result (core/evaluate/baselines.py): prior + the vertical's simple head, lift with CI."""

import json

import numpy as np
import pytest
from toy_vertical import LogReg, toy_vertical

from verticalkit.core.evaluate import baselines
from verticalkit.core.evaluate.baselines import compare, prior_scores, run_baselines
from verticalkit.core.tools.cli import main
from verticalkit.core.config import EvalConfig
from verticalkit.core.data.adapter import Task
from verticalkit.core.registry import get_vertical, list_verticals, register, unregister
from verticalkit.core.tools.testing import VerticalCheckError, check_baselines, check_vertical

BUILT_IN = ("fraud", "medical_imaging", "essay_scoring")
BINARY = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])


@pytest.fixture
def toy_with_baseline():
    v = register(toy_vertical(baseline_model="logreg", baseline_params={"C": 0.01}))
    yield v
    unregister(v.id)


def test_prior_scores_every_kind_from_messy_targets():
    assert np.allclose(prior_scores(BINARY, np.array([True, False, False, True]), 3), 0.5)
    multi = Task(kind="multiclass", target="y", primary_metric="roc_auc", classes=["a", "b", "c"])
    p = prior_scores(multi, np.array([0, 0, 1, 0]), 2)  # class "c" never seen in training
    assert p.shape == (2, 3) and np.allclose(p[0], [0.75, 0.25, 0.0])
    mo = Task(kind="multioutput", target="t", primary_metric="mcrmse", classes=["x", "y", "z"])
    Y = np.array([[1.0, np.nan, np.nan], [3.0, 2.0, np.nan]])  # z has no training value at all
    p = prior_scores(mo, Y, 4)
    assert p.shape == (4, 3) and np.allclose(p[0], [2.0, 2.0, 0.0]) and np.isfinite(p).all()
    reg = Task(kind="regression", target="s", primary_metric="rmse")
    assert np.allclose(prior_scores(reg, np.array([1, 2, 6]), 2), 3.0)


def _binary_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.clip(0.5 * y + rng.normal(0.25, 0.25, n), 0, 1)


def test_identical_model_has_zero_lift_and_ci_contains_the_point():
    y, s = _binary_data()
    noise = np.random.default_rng(1).random(len(y))
    out = compare(BINARY, y, s, {"same": s.copy(), "noise": noise}, config=EvalConfig(n_bootstrap=200))
    same = out["same"]["lift"]
    assert same["metric"] == "roc_auc" and abs(same["value"]) < 1e-12
    assert same["ci95"][0] == pytest.approx(0, abs=1e-12) and same["ci95"][1] == pytest.approx(0, abs=1e-12)
    for name in ("roc_auc", "auprc", "brier"):
        lift = out["noise"]["lifts"][name]
        lo, hi = lift["ci95"]
        assert lo <= lift["value"] <= hi, name
    assert out["noise"]["lift"]["value"] > 0.2 and out["noise"]["lift"]["ci95"][0] > 0


def test_lift_is_positive_when_the_model_is_better_on_a_lower_is_better_metric():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    task = Task(kind="regression", target="y", primary_metric="rmse")
    model = y + rng.normal(0, 0.1, 200)
    out = compare(task, y, model, {"mean": np.zeros(200)}, config=EvalConfig(n_bootstrap=100))
    rmse = out["mean"]["metrics"]["rmse"]["value"]
    model_rmse = float(np.sqrt(np.mean((model - y) ** 2)))
    assert rmse > 0.5 and out["mean"]["lift"]["value"] == pytest.approx(rmse - model_rmse, abs=1e-9)
    assert out["mean"]["lift"]["value"] > 0 and out["mean"]["lift"]["ci95"][0] > 0


def test_toy_run_writes_both_baselines_report_and_console(toy_with_baseline, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=80"]) == 0
    console = capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    b = m["baselines"]
    assert set(b) == {"prior", "simple"} and b["simple"]["model"] == "logreg" and b["simple"]["params"] == {"C": 0.01}
    assert b["prior"]["metrics"]["roc_auc"]["value"] == pytest.approx(0.5)
    for entry in b.values():
        lift = entry["lift"]
        assert lift["metric"] == "roc_auc" and lift["ci95"][0] <= lift["value"] <= lift["ci95"][1]
    assert b["prior"]["lift"]["value"] == pytest.approx(m["metrics"]["roc_auc"]["value"] - 0.5)
    assert "baseline prior" in console and "baseline simple (logreg)" in console and "model lift" in console
    html = (out / "report.html").read_text()
    assert "<h2>Baselines</h2>" in html and "this model" in html and "constant score" in html


def test_run_of_the_baseline_head_reuses_it_with_zero_lift(tmp_path):
    v = register(toy_vertical(baseline_model="logreg"))
    try:
        out = tmp_path / "run"
        assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=50"]) == 0
        simple = json.loads((out / "metrics.json").read_text())["baselines"]["simple"]
        assert "the run's model" in simple["note"] and simple["lift"]["value"] == pytest.approx(0, abs=1e-12)
    finally:
        unregister(v.id)


def test_baselines_off_and_bad_value(toy_with_baseline, tmp_path, capsys):
    out = tmp_path / "off"
    assert main(["train", "toy", "--out", str(out), "--set", "eval.baselines=false", "--set",
                 "eval.n_bootstrap=20"]) == 0
    assert "baselines" not in json.loads((out / "metrics.json").read_text())
    assert "<h2>Baselines</h2>" not in (out / "report.html").read_text()
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["train", "toy", "--out", str(bad), "--set", "eval.baselines=maybe"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "eval.baselines" in err[0] and not bad.exists()


def test_large_training_data_skips_the_simple_baseline_with_a_note(toy_with_baseline, tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.setattr(baselines, "MAX_CELLS", 10)
    out = tmp_path / "run"
    assert main(["train", "toy", "--out", str(out), "--model", "logreg", "--set", "model_params.C=2.0",
                 "--set", "eval.n_bootstrap=20"]) == 0
    b = json.loads((out / "metrics.json").read_text())["baselines"]
    assert "too large" in b["simple"]["skipped"] and "lift" not in b["simple"] and "lift" in b["prior"]
    assert "skipped" in capsys.readouterr().out
    assert "skipped: training data too large" in (out / "report.html").read_text()


def test_check_vertical_refuses_an_unknown_baseline_model():
    with pytest.raises(VerticalCheckError, match="baseline_model 'ridge'"):
        check_vertical(toy_vertical(baseline_model="ridge"))


@pytest.mark.parametrize("vertical_id", [v for v in list_verticals() if v != "toy"])
def test_every_vertical_has_both_baselines_on_its_tiny_data(vertical_id):
    vertical = get_vertical(vertical_id)
    if vertical_id in BUILT_IN:
        assert vertical.baseline_model in vertical.models
    splits = vertical.tiny_data(0)
    scores = prior_scores(splits.task, splits.train.y, len(splits.test))
    lifts = check_baselines(vertical, splits, 0, scores)
    assert lifts["prior"] == pytest.approx(0, abs=1e-9)
    if vertical.baseline_model:
        # the prior "model" is beaten by the simple baseline: its lift over it is negative
        assert set(lifts) == {"prior", "simple"} and lifts["simple"] < 0


def test_simple_baseline_trained_with_the_run_seed_is_deterministic():
    v = toy_vertical(baseline_model="logreg")
    splits = v.tiny_data(3)
    s = LogReg().fit(splits.train.X, splits.train.y).predict_proba(splits.test.X)[:, 1]
    a = run_baselines(v, splits, "test", EvalConfig(n_bootstrap=30), 3, s)
    b = run_baselines(v, splits, "test", EvalConfig(n_bootstrap=30), 3, s)
    assert a["simple"]["lift"] == b["simple"]["lift"] and a["prior"]["metrics"] == b["prior"]["metrics"]


class Broken(LogReg):
    def fit(self, X, y, X_val=None, y_val=None, context=None):
        raise ValueError("singular matrix")


def test_a_failing_simple_baseline_is_a_note_not_a_lost_run(tmp_path):
    v = register(toy_vertical(models={"logreg": LogReg, "broken": Broken}, baseline_model="broken"))
    try:
        out = tmp_path / "run"
        assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=20"]) == 0
        simple = json.loads((out / "metrics.json").read_text())["baselines"]["simple"]
        assert "ValueError: singular matrix" in simple["skipped"]
    finally:
        unregister(v.id)


def test_essay_tfidf_head_on_messy_essays_round_trips(tmp_path):
    import pandas as pd

    from verticalkit.core.heads.predictor import Predictor
    from verticalkit.verticals.essay_scoring.baseline import TfidfHead
    from verticalkit.verticals.essay_scoring.tiny import synthetic_essays

    X, y = synthetic_essays(n=80, seed=1)
    X = X.astype({"prompt": object, "text": object})
    X.loc[0, "text"] = ""  # empty essay
    X.loc[1, "text"] = None  # missing essay
    X.loc[2, "text"] = "Caf\xe9 na\xefve r\xe9sum\xe9".encode("latin-1")  # bytes in a legacy encoding
    lone = pd.DataFrame({"text": ["only one essay here"], "prompt": ["Lonely prompt"]})  # no vocabulary possible
    X = pd.concat([X, lone], ignore_index=True)
    Y = np.column_stack([np.append(y, 3.0), np.where(X["prompt"] == 1, np.append(y, 3.0), np.nan)])
    head = TfidfHead().fit(X, Y)
    pred = head.predict(X)
    assert pred.shape == Y.shape and np.isfinite(pred[:, 0]).all()
    assert np.array_equal(np.isnan(pred[:, 1]), np.isnan(Y[:, 1]))  # NaN where the prompt has no such trait
    assert pred[-1, 0] == 3.0 and (pred[:, 0] >= 0).all() and (pred[:, 0] <= 6).all()
    task = Task(kind="multioutput", target="t", primary_metric="mcrmse", classes=["a", "b"])
    Predictor(head, vertical="essay_scoring", model="tfidf", dataset="d", task=task).save(tmp_path / "m")
    again = Predictor.load(tmp_path / "m").predict_score(X)
    assert np.allclose(again, pred, equal_nan=True)
    with pytest.raises(Exception, match="prompt"):
        head.predict(pd.DataFrame({"text": ["x"], "prompt": [99]}))


def _messy_splits(n: int, n_values: int, seed: int = 0):
    """A narrow table whose one-hot design matrix is wide: a text column with ``n_values`` values
    (nulls included), a numeric column with empty cells, a clean one."""
    import pandas as pd

    from verticalkit.core.data.adapter import DatasetSplits, Split

    rng = np.random.default_rng(seed)
    text = pd.Series([f"shop {v}" for v in rng.integers(0, n_values, n)], dtype="string")
    text[rng.random(n) < 0.1] = pd.NA
    amount = rng.normal(size=n)
    amount[rng.random(n) < 0.3] = np.nan
    X = pd.DataFrame({"merchant": text, "amount": amount, "hour": rng.integers(0, 24, n)})
    y = (rng.random(n) < 0.3).astype(int)
    part = [Split(X=X.iloc[i].reset_index(drop=True), y=y[i], ids=np.arange(n)[i])
            for i in (slice(0, n // 2), slice(n // 2, 3 * n // 4), slice(3 * n // 4, n))]
    return DatasetSplits("messy", BINARY, *part, protocol="test")


def test_encoded_width_counts_one_hot_columns_and_missing_indicators():
    splits = _messy_splits(400, 150)
    X = splits.train.X
    k = X["merchant"].nunique(dropna=False)
    assert k > 100  # the values seen in training, and the null
    assert baselines.encoded_width(X) == k + 2 + 1  # one-hot, amount + its missing indicator, hour
    assert baselines.encoded_width(X, max_categories=20) == 20 + 3
    assert baselines.encoded_width(np.zeros((5, 3, 4))) == 12


def test_the_size_guard_counts_the_encoded_width_not_the_input_columns(monkeypatch):
    fraud = get_vertical("fraud")
    splits = _messy_splits(400, 150)
    # 200 training rows x 3 input columns = 600 cells, but ~150 one-hot columns: ~30,000 cells
    monkeypatch.setattr(baselines, "MAX_CELLS", 5_000)
    scores, info = baselines.simple_baseline_scores(fraud, splits, "test", seed=0)
    assert scores is None and "encoded columns" in info["skipped"] and "200 rows" in info["skipped"]
    monkeypatch.setattr(baselines, "MAX_CELLS", 100_000)
    scores, info = baselines.simple_baseline_scores(fraud, splits, "test", seed=0)
    assert scores is not None and len(scores) == len(splits.test) and "skipped" not in info
