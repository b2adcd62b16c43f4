"""TorchHead: a tiny concrete head (standardised MLP on a numpy array) and its tests.

``MLPHead`` doubles as the example for vertical authors: a torch head implements
``fit_preprocessing`` / ``get_state`` / ``set_state`` (fitted, JSON-able preprocessing),
``build_module(X, y)`` and ``make_dataset(X, y=None)``; the base class gives fit, predict,
predict_proba, save and load (loss and scores default by task kind).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import Dataset

from verticalkit.core.config import TrainConfig
from verticalkit.core.data.adapter import Task
from verticalkit.core.errors import ModelLoadError
from verticalkit.core.heads.base import FitContext
from verticalkit.core.heads.torch_head import TorchHead


class ArrayDataset(Dataset):
    """Rows of a float array as ``{"inputs": x, "target": y}`` items."""

    def __init__(self, X: np.ndarray, y: np.ndarray | None = None):
        self.X = torch.as_tensor(X, dtype=torch.float32)
        self.y = None if y is None else torch.as_tensor(y)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"inputs": self.X[i]}
        if self.y is not None:
            item["target"] = self.y[i]
        return item


class MLPHead(TorchHead):
    """Standardise the columns, then Linear → ReLU → Dropout → Linear."""

    def __init__(self, hidden: int = 32, dropout: float = 0.1):
        self.hidden = hidden
        self.dropout = dropout

    def fit_preprocessing(self, X, y):
        X = np.asarray(X, dtype=np.float32)
        self.n_features_in_ = X.shape[1]
        self.mean_ = X.mean(0).tolist()
        self.scale_ = (X.std(0) + 1e-6).tolist()

    def get_state(self):
        return {"n_features_in": self.n_features_in_, "mean": self.mean_, "scale": self.scale_}

    def set_state(self, state):
        self.n_features_in_, self.mean_, self.scale_ = state["n_features_in"], state["mean"], state["scale"]

    def build_module(self, X, y) -> nn.Module:  # X, y are None at load: use fitted attributes only
        return nn.Sequential(nn.Linear(self.n_features_in_, self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
                             nn.Linear(self.hidden, self.n_outputs_))

    def make_dataset(self, X, y=None):
        X = (np.asarray(X, dtype=np.float32) - np.asarray(self.mean_, np.float32)) / np.asarray(self.scale_, np.float32)
        return ArrayDataset(X, y)


def make_data(n: int = 600, d: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = ((X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=n)) > 0).astype(np.int64)
    return X, y


BINARY = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])


def _ctx(tmp_path, **train) -> FitContext:
    cfg = TrainConfig(**{"epochs": 30, "batch_size": 64, "lr": 0.01, "patience": 2, "progress": False,
                         "device": "cpu", **train})
    return FitContext(task=BINARY, seed=1, train=cfg, checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path,
                      score_fn=lambda t, s: roc_auc_score(t, s))


def test_fit_early_stops_restores_best_and_reloads_exactly(tmp_path):
    X, y = make_data(800)
    Xv, yv = make_data(200, seed=1)
    head = MLPHead().fit(X, y, Xv, yv, context=_ctx(tmp_path))
    scores = [h["val_score"] for h in head.history_]
    assert len(scores) < 30  # patience 2 stopped it
    assert scores[-1] < max(scores) and scores[-2] < max(scores)  # stopped after 2 epochs without improvement
    log = (tmp_path / "train_log.csv").read_text().splitlines()
    assert log[0] == "epoch,train_loss,val_score,lr,seconds" and len(log) == len(scores) + 1
    proba = head.predict_proba(Xv)
    assert proba.shape == (200, 2) and np.allclose(proba.sum(1), 1)
    assert roc_auc_score(yv, proba[:, 1]) == pytest.approx(max(scores), abs=1e-6)  # the best weights, not the last
    assert roc_auc_score(yv, proba[:, 1]) > 0.85
    assert set(np.unique(head.predict(Xv))) <= {0, 1}

    head.save(tmp_path / "saved")
    cfg = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert cfg["class"] == "MLPHead" and cfg["task_kind"] == "binary" and cfg["params"] == {"hidden": 32, "dropout": 0.1}
    again = MLPHead.load(tmp_path / "saved")
    np.testing.assert_allclose(again.predict_proba(Xv), head.predict_proba(Xv), rtol=0, atol=1e-7)
    assert np.array_equal(head.predict(Xv), again.predict(Xv))


def test_refit_on_finished_checkpoint_does_not_train_further(tmp_path):
    X, y = make_data(300)
    Xv, yv = make_data(100, seed=1)
    first = MLPHead().fit(X, y, Xv, yv, context=_ctx(tmp_path))
    second = MLPHead().fit(X, y, Xv, yv, context=_ctx(tmp_path))  # same checkpoint_dir: resumes a stopped run
    assert second.history_ == []
    np.testing.assert_allclose(second.predict_proba(Xv), first.predict_proba(Xv), rtol=0, atol=1e-7)


def test_same_seed_same_model_other_seed_differs():
    X, y = make_data(200)
    cfg = dict(epochs=2, batch_size=32, progress=False, device="cpu", patience=None)
    fits = [MLPHead().fit(X, y, context=FitContext(task=BINARY, seed=s, train=TrainConfig(**cfg))) for s in (3, 3, 4)]
    p = [f.predict_proba(X) for f in fits]
    np.testing.assert_allclose(p[1], p[0], rtol=0, atol=1e-7)  # one process, same seed: equal up to rounding
    assert not np.allclose(p[0], p[2])


def test_sklearn_style_without_context_multiclass_and_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4)).astype(np.float32)
    y3 = np.digitize(X[:, 0], [-0.5, 0.5])  # 3 classes
    head = clone(MLPHead(hidden=16)).fit(X, y3)
    assert head.task_kind_ == "multiclass" and head.predict_proba(X).shape == (2000, 3)
    assert (head.predict(X) == y3).mean() > 0.7  # default config (10 epochs); majority class is 0.38
    yr = (2 * X[:, 0] + X[:, 1]).astype(np.float32) + 0.5  # non-integer floats → regression
    reg = MLPHead(hidden=16, dropout=0.0).fit(X, yr)
    assert reg.task_kind_ == "regression" and reg.predict(X).shape == (2000,)
    assert np.corrcoef(reg.predict(X), yr)[0, 1] > 0.7


def test_load_refuses_other_class_and_other_shapes(tmp_path):
    X, y = make_data(100)
    head = MLPHead(hidden=8).fit(X, y, context=FitContext(task=BINARY, train=TrainConfig(epochs=1, progress=False)))
    head.save(tmp_path / "m")

    class OtherHead(MLPHead):
        pass

    with pytest.raises(ModelLoadError, match="holds a MLPHead, not a OtherHead"):
        OtherHead.load(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["params"]["hidden"] = 9
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="different model.*shape differs"):
        MLPHead.load(tmp_path / "m")
    with pytest.raises(ModelLoadError, match="config.json not found"):
        MLPHead.load(tmp_path / "nothing")


class SmallBatches(MLPHead):
    """Records the batch sizes of its forward passes; predicts 7 items at a time."""

    predict_batch_size = 7

    def forward_batch(self, module, batch):
        self.seen_ = getattr(self, "seen_", []) + [(len(batch["inputs"]), batch["inputs"].device.type)]
        return super().forward_batch(module, batch)


def test_predict_outputs_batches_by_the_hook_and_runs_where_the_module_is():
    X, y = make_data(20)
    ctx = FitContext(task=BINARY, train=TrainConfig(epochs=1, progress=False))
    head = SmallBatches(hidden=8).fit(X, y, context=ctx)
    head.seen_ = []
    home = head.predict_outputs(X)  # device None: the module's own device (the CPU after fit)
    assert [n for n, _ in head.seen_] == [7, 7, 6] and {d for _, d in head.seen_} == {"cpu"}
    np.testing.assert_allclose(head.predict_outputs(X, batch_size=20, device="cpu"), home, rtol=0, atol=1e-6)
    assert head.predict_outputs(X[:0]).shape == (0, 2)
    if torch.cuda.is_available():  # a device visited for the call, the module back where it was after it
        np.testing.assert_allclose(head.predict_outputs(X, device="cuda"), home, atol=1e-5)
        assert next(head.module_.parameters()).device.type == "cpu"
        head.module_.cuda()
        head.seen_ = []
        np.testing.assert_allclose(head.predict_outputs(X), home, atol=1e-5)
        assert {d for _, d in head.seen_} == {"cuda"} and next(head.module_.parameters()).device.type == "cuda"
