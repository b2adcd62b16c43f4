"""MLflow pyfunc wrapper (core/train/mlflow_pyfunc.py); the round trip through MLflow runs when it is installed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.train.mlflow_pyfunc import ARTIFACT, VerticalkitModel
from verticalkit.core.heads.predictor import Predictor
from verticalkit.core.train.run import input_schema

X_NEW = pd.DataFrame({"a": [1.0, -1.0, 0.2, 3.0], "b": [2.0, 0.5, -0.1, -4.0]})


@pytest.fixture
def model_dir(toy, tmp_path):
    from toy_vertical import LogReg

    s = toy.tiny_data(0)
    Predictor(LogReg().fit(s.train.X, s.train.y), vertical="toy", model="logreg", dataset="toy", task=s.task,
              input_schema=input_schema(s.train.X)).save(tmp_path / "run" / "model")
    return tmp_path / "run"


def test_wrapper_scores_like_predictor(model_dir):
    m = VerticalkitModel()
    m.load_context(SimpleNamespace(artifacts={ARTIFACT: str(model_dir)}))  # run folder accepted
    out = m.predict(None, X_NEW)
    want = Predictor.load(model_dir / "model").predict_score(X_NEW)
    np.testing.assert_allclose(out["score"], want, rtol=1e-12)
    assert list(out["prediction"]) == [int(s >= 0.5) for s in want]


def test_mlflow_round_trip(model_dir, tmp_path):
    mlflow = pytest.importorskip("mlflow", reason="mlflow not installed (pip install 'verticalkit[mlflow]')")
    from verticalkit.core.train.mlflow_pyfunc import save_predictor

    save_predictor(model_dir, tmp_path / "mlflow_model")
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "mlflow_model"))
    out = loaded.predict(X_NEW)
    np.testing.assert_allclose(out["score"], Predictor.load(model_dir / "model").predict_score(X_NEW), rtol=1e-12)


def test_mlflow_log_to_run(model_dir, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="mlflow not installed (pip install 'verticalkit[mlflow]')")
    from verticalkit.core.train.mlflow_pyfunc import log_predictor

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow-skinny has no SQL store; a local file store
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    try:
        with mlflow.start_run():
            info = log_predictor(model_dir)
        out = mlflow.pyfunc.load_model(info.model_uri).predict(X_NEW)
    finally:
        mlflow.set_tracking_uri(None)
    np.testing.assert_allclose(out["score"], Predictor.load(model_dir / "model").predict_score(X_NEW), rtol=1e-12)


def _train_toy(tmp_path, track=None):
    from verticalkit.core.train.run import build_config, train

    cfg = build_config("toy", None, None, str(tmp_path / "run"), sets=["eval.n_bootstrap=20"])
    return train(cfg, track=track)


def test_train_is_tracked_when_the_uri_is_set(toy, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="mlflow not installed (pip install 'verticalkit[mlflow]')")
    import json

    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    mlflow.set_tracking_uri(store.as_uri())
    try:
        out = _train_toy(tmp_path)
        client = mlflow.tracking.MlflowClient()
        (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
        metrics = json.loads((out / "metrics.json").read_text())
        primary = metrics["primary"]
        assert run.data.metrics[primary] == pytest.approx(metrics["metrics"][primary]["value"])
        assert run.data.metrics[f"{primary}_ci_low"] == pytest.approx(metrics["metrics"][primary]["ci95"][0])
        assert run.data.params["seed"] == str(metrics["seed"])
        assert run.data.tags["verticalkit.vertical"] == "toy"
        logged = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config.yaml", "metrics.json", "report.html", "model_card.md"} <= logged
        loaded = mlflow.pyfunc.load_model("models:/toy-logreg/1")  # registered, loads back from the store
        scores = loaded.predict(X_NEW)["score"]
    finally:
        mlflow.set_tracking_uri(None)
    np.testing.assert_allclose(scores, Predictor.load(out / "model").predict_score(X_NEW), rtol=1e-9)


def test_train_is_not_tracked_by_default(toy, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    _train_toy(tmp_path)
    assert not (tmp_path / "mlruns").exists()
    with pytest.raises(Exception, match="--track must be one of"):
        _train_toy(tmp_path / "other", track="wandb")
