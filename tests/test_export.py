"""Export (core/serve/export.py): ONNX (skl2onnx / torch.onnx legacy exporter), TorchScript, torch.export,
each checked against the Predictor on the same inputs (tolerance 1e-4 absolute on the scores)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("onnxruntime", reason="ONNX export tests need onnxruntime (pip install 'verticalkit[onnx]')")
pytest.importorskip("skl2onnx", reason="ONNX export tests need skl2onnx (pip install 'verticalkit[onnx]')")

from test_torch_head import MLPHead, make_data  # noqa: E402

from verticalkit.core.tools.cli import main  # noqa: E402
from verticalkit.core.config import TrainConfig  # noqa: E402
from verticalkit.core.data.adapter import Task  # noqa: E402
from verticalkit.core.errors import ConfigError  # noqa: E402
from verticalkit.core.serve.export import (TOLERANCE, ScoresModule, Standardize, TorchExport, export,  # noqa: E402
                                     run_exported)
from verticalkit.core.heads.base import FitContext  # noqa: E402
from verticalkit.core.heads.predictor import Predictor  # noqa: E402
from verticalkit.core.train.run import input_schema  # noqa: E402


@pytest.fixture
def toy_predictor(toy):
    from toy_vertical import LogReg

    s = toy.tiny_data(0)
    return Predictor(LogReg().fit(s.train.X, s.train.y), vertical="toy", model="logreg", dataset="toy",
                     task=s.task, input_schema=input_schema(s.train.X))


class ExportableMLP(MLPHead):
    """The export protocol for a torch head: standardisation inside the graph."""

    def export_module(self) -> TorchExport:
        module = ScoresModule(self.module_, self.task_kind_, pre=Standardize(self.mean_, self.scale_))
        X = torch.as_tensor(np.random.default_rng(1).normal(size=(32, self.n_features_in_)), dtype=torch.float32)
        return TorchExport(module, (X,), ["input"])


def torch_predictor(kind: str = "multiclass") -> Predictor:
    X, y = make_data(n=300, d=6)
    if kind == "multiclass":
        y = (X[:, 0] > 0.5).astype(int) + (X[:, 1] > 0).astype(int)
        task = Task(kind="multiclass", target="y", primary_metric="roc_auc", classes=["a", "b", "c"])
    else:
        task = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])
    ctx = FitContext(task=task, seed=0, train=TrainConfig(epochs=2, batch_size=64, progress=False, patience=None))
    head = ExportableMLP(hidden=16).fit(X * 3 + 1, y, context=ctx)  # un-standardised inputs
    return Predictor(head, vertical="toy", model="mlp", dataset="synthetic", task=task,
                     input_schema=input_schema(X))


def test_sklearn_onnx_parity(toy_predictor, tmp_path):
    doc = export(toy_predictor, tmp_path / "onnx", "onnx")
    assert (tmp_path / "onnx" / "model.onnx").is_file() and doc["parity"]["max_abs_diff"] <= TOLERANCE
    saved = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert saved["exporter"].startswith("skl2onnx") and saved["input_columns"] == ["a", "b"]
    assert json.loads((tmp_path / "onnx" / "preprocessing.json").read_text())["columns"] == ["a", "b"]
    # fresh rows, other column order: the contract puts columns in schema order
    rng = np.random.default_rng(7)
    X = pd.DataFrame({"b": rng.normal(size=200) * 3, "a": rng.normal(size=200) * 3})
    got = run_exported(tmp_path / "onnx", None, X)
    np.testing.assert_allclose(got, toy_predictor.predict_score(X[["a", "b"]]), atol=TOLERANCE)
    assert got.shape == (200,) and got.std() > 0.1


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "torch_export"])
def test_torch_parity(fmt, tmp_path):
    predictor = torch_predictor("multiclass")
    doc = export(predictor, tmp_path / fmt, fmt)
    assert doc["parity"]["max_abs_diff"] <= TOLERANCE
    assert doc["preprocessing"] == "inside the graph" and not (tmp_path / fmt / "preprocessing.json").exists()
    X = (np.random.default_rng(5).normal(size=(50, 6)) * 3 + 1).astype(np.float32)  # another batch size
    got = run_exported(tmp_path / fmt, None, X)
    want = predictor.predict_score(X)
    assert got.shape == want.shape == (50, 3)
    np.testing.assert_allclose(got, want, atol=TOLERANCE)


def test_torch_binary_onnx_exporter_named(tmp_path):
    predictor = torch_predictor("binary")
    doc = export(predictor, tmp_path / "o", "onnx")
    assert "dynamo=False" in doc["exporter"] and doc["score"].startswith("probabilities[:, 1]")
    X = np.random.default_rng(2).normal(size=(9, 6)).astype(np.float32)
    np.testing.assert_allclose(run_exported(tmp_path / "o", None, X), predictor.predict_score(X), atol=TOLERANCE)


def test_parity_failure_refuses_export(tmp_path):
    predictor = torch_predictor("multiclass")
    head = predictor.head
    spec_fn = head.export_module

    def wrong_spec():  # forgets the standardisation: scores no longer match
        spec = spec_fn()
        spec.module = ScoresModule(head.module_, head.task_kind_)
        return spec

    head.export_module = wrong_spec
    with pytest.raises(ConfigError, match="differs from the Predictor"):
        export(predictor, tmp_path / "bad", "onnx")
    assert not (tmp_path / "bad").exists()


def test_sklearn_head_refuses_torch_formats(toy_predictor, tmp_path):
    with pytest.raises(ConfigError, match="torch heads"):
        export(toy_predictor, tmp_path / "x", "torchscript")


def test_cli_export(toy, toy_predictor, tmp_path, capsys):
    toy_predictor.save(tmp_path / "run" / "model")
    assert main(["export", str(tmp_path / "run"), "--format", "onnx"]) == 0
    assert (tmp_path / "run" / "export" / "onnx" / "model.onnx").is_file()
    assert "max |diff|" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "run"), "--format", "pickle"]) == 2


def test_hist_gradient_boosting_onnx_with_missing_values(toy, tmp_path):
    """Trees (the fraud gbdt head's estimator), NaN routed by the learned missing-value branches."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from toy_vertical import LogReg

    class HGB(LogReg):
        def fit(self, X, y, X_val=None, y_val=None, context=None):
            self.model_ = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(np.asarray(X), y)
            return self

    s = toy.tiny_data(0)
    X = s.train.X.copy()
    X.iloc[::7, 0] = np.nan
    predictor = Predictor(HGB().fit(X, s.train.y), vertical="toy", model="hgb", dataset="toy", task=s.task,
                          input_schema=input_schema(s.train.X))
    sample = s.test.X.copy()
    sample.iloc[::3, 1] = np.nan
    doc = export(predictor, tmp_path / "o", "onnx", X_sample=sample)
    assert doc["parity"]["n"] == len(sample) and doc["parity"]["max_abs_diff"] <= TOLERANCE


def test_export_sklearn_hook(toy, tmp_path):
    """A head's own export_sklearn() (here: a named input per column) replaces the default contract."""
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from toy_vertical import LogReg

    from verticalkit.core.serve.export import SklearnExport

    class Hooked(LogReg):
        def fit(self, X, y, X_val=None, y_val=None, context=None):
            self.model_ = make_pipeline(StandardScaler(), LogisticRegression()).fit(np.asarray(X) * 10, y)
            return self

        def predict_proba(self, X):
            return self.model_.predict_proba(np.asarray(X) * 10)

        def export_sklearn(self):
            return SklearnExport(self.model_, [("input", FloatTensorType([None, 2]))],
                                 to_onnx_inputs=lambda X: {"input": X[["a", "b"]].to_numpy(np.float32) * 10})

    s = toy.tiny_data(0)
    predictor = Predictor(Hooked().fit(s.train.X, s.train.y), vertical="toy", model="hooked", dataset="toy",
                          task=s.task, input_schema=input_schema(s.train.X))
    doc = export(predictor, tmp_path / "o", "onnx", X_sample=s.test.X)
    assert doc["preprocessing"] == "inside the graph" and doc["parity"]["max_abs_diff"] <= TOLERANCE
    got = run_exported(tmp_path / "o", None, s.val.X, predictor=predictor)
    np.testing.assert_allclose(got, predictor.predict_score(s.val.X), atol=TOLERANCE)
