"""The Trainer: gradient accumulation, clipping, schedules, callbacks, predict, checkpoints."""

import copy
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_torch_head import ArrayDataset, MLPHead, make_data

from verticalkit.core.train.callbacks import Callback
from verticalkit.core.heads.checkpoint import rng_state, save_checkpoint, set_rng_state
from verticalkit.core.config import TrainConfig
from verticalkit.core.data.adapter import Task
from verticalkit.core.errors import ConfigError, ModelLoadError
from verticalkit.core.heads.base import FitContext
from verticalkit.core.train.trainer import Trainer, make_scheduler, resolve_mixed_precision


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
    for a, b in zip(big.parameters(), small.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)
    init = torch.nn.Linear(5, 8)  # the same initial weights as _one_update's first layer
    assert not torch.allclose(big[0].weight, init.weight)  # the step did move the weights


def test_accumulation_differs_from_unaccumulated_steps():
    # guard: the test above must be able to fail — 4 separate steps differ from 1 accumulated step
    small_steps = _one_update(accum=1, batch_size=16)
    big = _one_update(accum=1, batch_size=64)
    assert not torch.allclose(small_steps[0].weight, big[0].weight)


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


class Recorder(Callback):
    def __init__(self, stop_after_epoch: int | None = None):
        self.events: list[str] = []
        self.stop_after_epoch = stop_after_epoch

    def on_train_begin(self, trainer):
        self.events.append("train_begin")

    def on_epoch_begin(self, trainer, epoch):
        self.events.append(f"epoch_begin {epoch}")

    def on_step_end(self, trainer, step, loss):
        assert loss.ndim == 0 and torch.isfinite(loss)
        self.events.append("step")

    def on_evaluate(self, trainer, epoch, score):
        self.events.append(f"evaluate {score is not None}")

    def on_epoch_end(self, trainer, epoch, logs):
        self.events.append(f"epoch_end {logs['epoch']}")
        if epoch == self.stop_after_epoch:
            trainer.should_stop = True

    def on_train_end(self, trainer):
        self.events.append("train_end")


def _trainer(callbacks=(), n=40, **train) -> Trainer:
    X, y = make_data(n)
    torch.manual_seed(0)
    module = torch.nn.Linear(10, 2)
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 16, "progress": False, "device": "cpu", "patience": None, **train})
    return Trainer(module, ArrayDataset(X, y), ArrayDataset(X, y), config=cfg, callbacks=callbacks,
                   loss_fn=lambda out, b: torch.nn.functional.cross_entropy(out, b["target"]),
                   score_fn=lambda t, s: float((s.argmax(1) == t).mean()))


def test_callback_events_in_order_and_should_stop():
    rec = Recorder(stop_after_epoch=1)
    trainer = _trainer([rec])
    trainer.fit()
    epoch = ["step"] * 3 + ["evaluate True"]  # 40 samples / 16 → 3 steps
    assert rec.events == ["train_begin", "epoch_begin 0", *epoch, "epoch_end 1", "epoch_begin 1", *epoch,
                          "epoch_end 2", "train_end"]
    assert len(trainer.history) == 2


def test_predict_keeps_order_with_a_ragged_last_batch():
    trainer = _trainer(n=37, eval_batch_size=10)
    trainer.fit()
    X, y = make_data(37)
    out = trainer.predict(ArrayDataset(X, y))
    with torch.no_grad():
        expected = trainer.module(torch.as_tensor(X)).numpy()
    assert out.shape == (37, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_gradient_clipping_bounds_the_update():
    # one SGD step with lr 1: the parameter change is the clipped gradient, norm <= max_grad_norm
    trainer = _trainer(n=16, epochs=1, optimizer="sgd", momentum=0.0, lr=1.0, scheduler="constant", max_grad_norm=0.01)
    before = torch.cat([p.detach().flatten().clone() for p in trainer.module.parameters()])
    trainer.fit()
    after = torch.cat([p.detach().flatten() for p in trainer.module.parameters()])
    assert 0.005 < float((after - before).norm()) <= 0.01 + 1e-6


def test_schedules_with_warmup():
    def lrs(name: str, warmup: float = 0.0) -> list[float]:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = make_scheduler(opt, TrainConfig(scheduler=name, warmup_ratio=warmup, milestones=[0.5]), total_steps=10)
        out = []
        for _ in range(10):
            out.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        return out

    assert lrs("constant") == [1.0] * 10
    assert lrs("multistep") == pytest.approx([1.0] * 5 + [0.1] * 5)
    assert lrs("linear") == pytest.approx([1 - i / 10 for i in range(10)])
    cos = lrs("cosine", warmup=0.2)
    assert cos[:2] == pytest.approx([0.5, 1.0]) and cos[2] == pytest.approx(1.0)  # 2 warm-up steps, then decay
    assert all(a > b for a, b in zip(cos[2:], cos[3:]))


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    state = rng_state()
    torch.save(state, tmp_path / "rng.pt")
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2] == again[2]


def test_config_checks_and_mixed_precision_choice():
    with pytest.raises(ConfigError, match="train.grad_accum_steps"):
        _trainer(grad_accum_steps=0)
    with pytest.raises(ConfigError, match="train.mixed_precision"):
        _trainer(mixed_precision="fp4")
    assert resolve_mixed_precision("auto", "cpu") == "no"
    assert resolve_mixed_precision("bf16", "cpu") == "bf16"
    if not torch.cuda.is_available():
        assert resolve_mixed_precision("auto") == "no"
        with pytest.raises(ConfigError, match="no CUDA device"):
            _trainer(device="cuda")


def test_checkpoint_keeps_best_weights_beside_the_last(tmp_path):
    trainer = _trainer(epochs=4)
    trainer.checkpoint_dir = tmp_path
    final = trainer.fit()
    best = load_file(str(tmp_path / "last" / "best.safetensors"))
    assert all(torch.equal(best[k], v) for k, v in final.state_dict().items())
    scores = [h["val_score"] for h in trainer.history]
    state = torch.load(tmp_path / "last" / "trainer_state.pt", weights_only=True)
    assert state["counters"]["best_score"] == max(scores) and state["counters"]["epoch"] == 4


def test_trainers_with_other_precisions_in_one_process():
    # Accelerate's process-wide state would refuse the second and third Accelerator
    for precision in ("no", "bf16", "no"):
        assert _trainer(mixed_precision=precision).accelerator.mixed_precision == precision


def test_bf16_autocast_on_cpu_trains_and_predicts_float32():
    # the GPU paths (bf16 / fp16 with a grad scaler) need a CUDA machine; CPU bf16 autocast runs here
    trainer = _trainer(n=64, epochs=2, mixed_precision="bf16")
    assert trainer.accelerator.mixed_precision == "bf16"
    matmul_dtypes = set()

    def forward(module, batch):
        matmul_dtypes.add((batch["inputs"] @ batch["inputs"].T).dtype)  # what autocast makes of a matmul here
        return module(batch["inputs"])

    trainer.forward_fn = forward
    trainer.fit()
    assert matmul_dtypes == {torch.bfloat16}
    assert all(np.isfinite(h["train_loss"]) for h in trainer.history)
    X, y = make_data(64)
    out = trainer.predict(ArrayDataset(X, y))
    assert out.dtype == np.float32 and out.shape == (64, 2)


def test_default_loggers_do_not_import_mlflow_unless_configured(tmp_path):
    # importing mlflow only to ask for an active run doubled the trainer's Python heap
    code = ("import sys; from verticalkit.core.train.callbacks import default_loggers; "
            "default_loggers(sys.argv[1]); print('mlflow' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_refused_precision_leaves_later_trainers_working():
    from verticalkit.core.train.trainer import make_accelerator

    try:
        make_accelerator("fp8", cpu=True)  # refused without transformer_engine / torchao
    except ConfigError as e:
        assert "mixed_precision=fp8" in str(e)
    assert make_accelerator("no", cpu=True).mixed_precision == "no"
