import copy

import numpy as np
import pytest
import torch
from mlp_head import ArrayDataset, MLPHead, make_data
from sklearn.metrics import roc_auc_score

from verticalkit.core.checkpoint import save_checkpoint
from verticalkit.core.config import TrainConfig
from verticalkit.core.data import Task
from verticalkit.core.errors import ConfigError, ModelLoadError
from verticalkit.core.heads import FitContext
from verticalkit.core.trainer import Trainer


def _mse(out, batch):
    return torch.nn.functional.mse_loss(out.squeeze(1), batch["target"].float())


def _one_update(accum: int, batch_size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    X = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    y = X.sum(1).astype(np.float32)
    cfg = TrainConfig(epochs=1, batch_size=batch_size, grad_accum_steps=accum, lr=0.1, optimizer="sgd", momentum=0.0,
                      scheduler="constant", max_grad_norm=None, patience=None, progress=False, device="cpu")
    return Trainer(module, ArrayDataset(X, y), loss_fn=_mse, config=cfg, seed=3).fit()


def test_gradient_accumulation_equals_large_batch():
    big = _one_update(accum=1, batch_size=64)  # one step on 64 samples
    small = _one_update(accum=4, batch_size=16)  # four micro-batches of 16, one step
    init = _one_update(accum=1, batch_size=64)
    for a, b in zip(big.parameters(), small.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(big[0].weight, torch.nn.Linear(5, 8).weight)
    assert init is not None


def test_accumulation_differs_from_unaccumulated_steps():
    # guard: the test above must be able to fail — 4 separate steps differ from 1 accumulated step
    small_steps = _one_update(accum=1, batch_size=16)
    big = _one_update(accum=1, batch_size=64)
    assert not torch.allclose(small_steps[0].weight, big[0].weight)


def test_torch_head_fits_early_stops_and_reloads(tmp_path):
    X, y = make_data(800)
    Xv, yv = make_data(200, seed=1)
    task = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])
    ctx = FitContext(task=task, seed=1, train=TrainConfig(epochs=30, batch_size=64, lr=0.01, patience=2,
                                                          progress=False, device="cpu"),
                     checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path, score_fn=lambda t, s: roc_auc_score(t, s))
    head = MLPHead().fit(X, y, Xv, yv, context=ctx)
    assert len(head.history_) < 30  # early stopping stopped it
    assert (tmp_path / "train_log.csv").read_text().count("\n") == len(head.history_) + 1
    best = max(h["val_score"] for h in head.history_)
    assert roc_auc_score(yv, head.predict_proba(Xv)[:, 1]) == pytest.approx(best, abs=1e-6)  # best weights restored
    head.save(tmp_path / "saved")
    again = MLPHead.load(tmp_path / "saved")
    assert np.array_equal(head.predict_proba(Xv), again.predict_proba(Xv))


def test_checkpoint_from_another_model_is_refused(tmp_path):
    X, y = make_data(100)
    save_checkpoint(tmp_path, torch.nn.Linear(3, 3), {"x": 1})
    task = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])
    ctx = FitContext(task=task, train=TrainConfig(epochs=1, progress=False, device="cpu"), checkpoint_dir=tmp_path)
    with pytest.raises(ModelLoadError, match="different model.*delete the stale checkpoints"):
        MLPHead().fit(X, y, context=ctx)


def test_unknown_optimizer_and_scheduler():
    X, y = make_data(50)
    for key, value in (("optimizer", "lion"), ("scheduler", "cyclic")):
        cfg = TrainConfig(epochs=1, progress=False, device="cpu")
        setattr(cfg, key, value)
        task = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])
        with pytest.raises(ConfigError, match=f"train.{key}"):
            MLPHead().fit(X, y, context=FitContext(task=task, train=copy.deepcopy(cfg)))
