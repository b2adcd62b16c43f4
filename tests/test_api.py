"""The Python API (``import verticalkit as vk``): discovery, data, train on an in-memory frame,
load / predict / explain, evaluate; the same validation as the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import verticalkit as vk
from verticalkit.core.tools.cli import main
from verticalkit.core.errors import ConfigError, DataError, VerticalkitError

ROOT = Path(__file__).resolve().parents[1]
FAST = {"eval": {"n_bootstrap": 20, "report": False}}
CAT = {"categorical_columns": ["channel"]}


def transactions(n=400, seed=0) -> pd.DataFrame:
    """A messy transaction table: a text category with empty cells, an int column, a binary label."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 50.0, n)
    df = pd.DataFrame({"amount": amount.round(2), "hour": rng.integers(0, 24, n),
                       "channel": rng.choice(["web", "pos", "", "Mobile App"], n)})
    df.loc[df["channel"] == "", "channel"] = None
    df["is_fraud"] = ((amount > 140) & (rng.random(n) < 0.7) | (rng.random(n) < 0.03)).astype(int)
    return df


def test_import_is_light_and_maps_the_sub_packages(tmp_path):
    code = ("import sys, time; t = time.perf_counter(); import verticalkit as vk; dt = time.perf_counter() - t; "
            "heavy = [m for m in ('torch', 'sklearn', 'pandas') if m in sys.modules]; "
            "import verticalkit.core, verticalkit.verticals.fraud, verticalkit.datasets; "
            "print(heavy, vk.datasets('fraud')[:1], vk.verticals.fraud.__name__, round(dt, 3))")
    for cwd in (ROOT, tmp_path):  # from the repository root (no shadowing folder) and from elsewhere
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("[] ['simulated-transactions'] verticalkit.verticals.fraud"), out.stdout


def test_discovery():
    assert {"fraud", "essay_scoring", "medical_imaging"} <= set(vk.verticals())
    assert "german-credit" in vk.datasets("fraud") and "scorecard" in vk.models("fraud")
    with pytest.raises(ConfigError, match="unknown vertical 'nope'"):
        vk.models("nope")


def test_load_dataset_validates_like_the_cli():
    s = vk.load_dataset("fraud", "german-credit", fold=2)
    assert isinstance(s.train.X, pd.DataFrame) and len(s.train.X) == len(s.train.y) > 500
    assert s.protocol.endswith("fold2") and s.task.kind == "binary"
    with pytest.raises(ConfigError, match="unknown config key 'data.folds'; valid keys of data: .*fold"):
        vk.load_dataset("fraud", "german-credit", folds=2)
    with pytest.raises(ConfigError, match="'data.fold' expects int, got 'x'"):
        vk.load_dataset("fraud", "german-credit", fold="x")


def test_train_on_a_frame_predict_and_evaluate(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = transactions()
    run = vk.train("fraud", model="logreg", data=df, target="is_fraud", seed=3, train={"epochs": 2},
                   model_params={"C": 0.5}, data_params={"categorical_columns": ["channel"]}, **FAST)
    assert run.dir.parent == Path("runs") and run.dir.name.startswith("fraud-csv-logreg-")
    assert set(run.metrics) >= {"roc_auc", "auprc"} and all(isinstance(v, float) for v in run.metrics.values())
    lo, hi = run.ci["roc_auc"]
    assert lo <= run.metrics["roc_auc"] <= hi and run.primary == "auprc"
    cfg = yaml.safe_load((run.dir / "config.yaml").read_text())
    assert cfg["seed"] == 3 and cfg["model_params"]["C"] == 0.5 and cfg["data"]["target"] == "is_fraud"
    assert Path(cfg["data"]["path"]) == (run.dir / "data" / "input.parquet").resolve()  # evaluate can re-read it
    assert cfg["data"]["seed"] == 3  # the run seed reaches the split, as with --set seed=3

    X = df.drop(columns="is_fraud").set_index(pd.Index([f"t{i}" for i in range(len(df))]))
    pred = run.predictor.predict(X)
    assert list(pred.columns) == ["id", "score", "prediction"] and pred["id"].iloc[0] == "t0"
    assert ((pred["score"] >= 0) & (pred["score"] <= 1)).all()
    np.testing.assert_allclose(run.predictor.predict_proba(X)[:, 1], pred["score"], atol=1e-12)

    # the CLI's predict on the same rows gives the same scores
    X.to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(run.dir), "--input", "new.csv", "--output", "cli.csv", "--quiet"]) == 0
    np.testing.assert_allclose(pd.read_csv("cli.csv")["score"], pred["score"], atol=1e-9)

    # a raw table goes through the saved column schema, as at training: text that does not parse
    # as a number is a missing value there (counted at training), so it scores like an empty cell
    odd = X.head(3).copy()
    odd["amount"] = odd["amount"].astype(object)
    odd.iloc[1, 0] = "twelve"
    empty = X.head(3).copy()
    empty.iloc[1, 0] = np.nan
    np.testing.assert_allclose(run.predictor.predict(odd)["score"], run.predictor.predict(empty)["score"], atol=1e-12)
    with pytest.raises(DataError, match="amount"):
        run.predictor.predict(X.drop(columns="amount"))

    ev = vk.evaluate(run.dir, split="val", eval={"n_bootstrap": 10, "report": True})
    assert ev.dir == run.dir / "eval" / "csv-val" and ev.split == "val" and "auprc" in ev.metrics
    assert ev.report_path.is_file()


def test_train_errors_match_the_cli_and_leave_nothing(tmp_path, capsys):
    df = transactions()
    with pytest.raises(ConfigError) as api_err:
        vk.train("fraud", model="logreg", data=df, target="is_fraud", out=tmp_path / "r", epochs=3)
    assert main(["train", "fraud", "--out", str(tmp_path / "r"), "--set", "epochs=3"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {api_err.value}"
    with pytest.raises(DataError):  # the label column is not in the frame
        vk.train("fraud", model="logreg", data=df, target="label", data_params=CAT, out=tmp_path / "r2", **FAST)
    assert not (tmp_path / "r").exists() and not (tmp_path / "r2").exists()
    with pytest.raises(ConfigError, match="does not read a table; for data=DataFrame use one of \\['csv'\\]"):
        vk.train("fraud", "german-credit", data=df, target="is_fraud", out=tmp_path / "r3")
    with pytest.raises(ConfigError, match="not a plain value"):
        vk.train("fraud", model="logreg", model_params={"C": object()}, out=tmp_path / "r4")


def test_existing_run_is_kept_unless_overwrite(tmp_path):
    df = transactions(seed=1)
    out = tmp_path / "run"
    first = vk.train("fraud", model="logreg", data=df, target="is_fraud", data_params=CAT, out=out, **FAST)
    before = json.loads((out / "metrics.json").read_text())
    with pytest.raises(ConfigError, match="already holds a complete run"):
        vk.train("fraud", model="logreg", data=df.head(200), target="is_fraud", data_params=CAT, out=out, **FAST)
    assert json.loads((out / "metrics.json").read_text()) == before
    again = vk.train("fraud", model="logreg", data=df, target="is_fraud", data_params=CAT, out=out, overwrite=True,
                     seed=7, **FAST)
    assert (out / "data" / "input.parquet").is_file() and again.dir == first.dir


def test_explain_where_the_head_gives_reason_codes(tmp_path):
    run = vk.train("fraud", "german-credit", "scorecard", out=tmp_path / "card", **FAST)
    X = vk.load_dataset("fraud", "german-credit").test.X.head(4)
    model = vk.load(run.dir)
    assert model.explains
    reasons = model.explain(X)
    assert len(reasons) == 4 and all(isinstance(r, list) for r in reasons["reasons"])
    assert any(len(r) for r in reasons["reasons"])
    plain = vk.load(vk.train("fraud", "german-credit", "logreg", out=tmp_path / "lr", **FAST).dir)
    assert not plain.explains
    with pytest.raises(VerticalkitError, match="gives no reason codes"):
        plain.explain(X)


def test_load_refuses_a_folder_without_a_model(tmp_path):
    with pytest.raises(VerticalkitError, match="predictor.json not found"):
        vk.load(tmp_path)


@pytest.mark.slow  # ~25 s of CPU (three runs with reports); ~90 s wall on the shared 2-core machine
def test_quickstart_example_runs(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "roc_auc" in out.stdout and "reasons" in out.stdout
    assert list((tmp_path / "runs").iterdir())


def test_train_on_a_messy_frame_then_load_and_predict(tmp_path, monkeypatch):
    """Empty numeric cells, a text column with gaps, money strings: nothing declared by hand."""
    monkeypatch.chdir(tmp_path)
    df = transactions(n=500, seed=1)
    rng = np.random.default_rng(1)
    df.loc[rng.random(len(df)) < 0.3, "amount"] = np.nan
    df["fee"] = [f"${v:,.2f} " if rng.random() > 0.2 else "" for v in rng.gamma(2.0, 3.0, len(df))]
    run = vk.train("fraud", model="gbdt", data=df, target="is_fraud", model_params={"max_iter": 30}, **FAST)
    model = vk.load(run.dir)
    new = df.drop(columns="is_fraud").head(20)
    pred = model.predict(new)
    assert len(pred) == 20 and pred["score"].between(0, 1).all() and pred["score"].notna().all()
    np.testing.assert_allclose(pred["score"], run.predictor.predict(new)["score"], atol=1e-12)
