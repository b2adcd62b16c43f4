"""The Trainer: one readable training loop on Hugging Face Accelerate.

Devices, mixed precision and DDP come from Accelerate (``accelerate launch`` or
``torchrun``); the loop itself is plain PyTorch. Determinism: the sample order of
epoch ``e`` is a permutation drawn from ``(seed, e)``, and the torch / numpy / Python
RNGs (dropout, augmentation) are reseeded from ``(seed, e, rank)`` at each epoch start;
checkpoints also keep the RNG states and the position inside the epoch, so a run
resumed from any checkpoint replays the rest bit for bit. Under DDP each process takes
every ``world``-th sample of that permutation, so ``batch_size`` is per process and the
global batch is ``batch_size × processes × grad_accum_steps``.

Per-step cost is kept at a plain loop's: the optimizer is not wrapped by Accelerate
(its wrapper probes installed packages on every step), and nothing waits for the
device inside the step (the epoch loss is summed on the device, read once per epoch).
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .callbacks import Callback, default_loggers
from ..heads.checkpoint import load_checkpoint, module_state, rng_state, save_checkpoint, set_rng_state
from ..config import TrainConfig
from ..errors import ConfigError

Batch = dict[str, torch.Tensor]


def default_forward(module: nn.Module, batch: Batch) -> torch.Tensor:
    return module(batch["inputs"])


def resolve_mixed_precision(setting: str, device: str = "auto") -> str:
    """``auto`` → bf16 on CUDA with bf16 support, fp16 on other CUDA, ``no`` on CPU; else Accelerate's value."""
    if setting != "auto":
        return setting
    if device != "cpu" and torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def make_accelerator(mixed_precision: str, cpu: bool):
    """An Accelerator for one run. Accelerate keeps one state per process and refuses a
    second Accelerator with other settings; a later Trainer in the same process (several
    heads, a notebook) with another precision or device resets that state instead."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    if AcceleratorState._shared_state:  # set up by an earlier Trainer in this process
        partial = PartialState()
        device_changes = (cpu or not torch.cuda.is_available()) != (partial.device.type == "cpu")
        if device_changes and partial.num_processes > 1:
            raise ConfigError("train.device cannot change inside a distributed run; use one device for every head")
        if device_changes or AcceleratorState().mixed_precision != mixed_precision:
            AcceleratorState._reset_state(reset_partial_state=device_changes)
    try:
        return Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    except ValueError as e:  # e.g. fp8 without transformer_engine / torchao, fp16 on a CPU
        # a refused Accelerator leaves a half-built shared state (no mixed_precision) that would
        # break every later Trainer in this process: drop it
        AcceleratorState._reset_state(reset_partial_state=True)
        raise ConfigError(f"train.mixed_precision={mixed_precision}: {e}; choose another precision "
                          f"(auto, no, fp16, bf16, fp8)") from e


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ConfigError(f"train.optimizer {cfg.optimizer!r} unknown; use adamw, adam or sgd")


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    warmup = int(cfg.warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        if cfg.scheduler == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        if cfg.scheduler == "linear":
            return max(0.0, 1 - progress)
        if cfg.scheduler == "constant":
            return 1.0
        if cfg.scheduler == "multistep":
            return 0.1 ** sum(progress >= m for m in cfg.milestones)
        raise ConfigError(f"train.scheduler {cfg.scheduler!r} unknown; use cosine, linear, constant or multistep")

    factor(0)  # validate the name now, not at the first step
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def check_config(cfg: TrainConfig) -> None:
    """Refuse settings the loop cannot run with, naming the key."""
    checks = [(cfg.epochs >= 0, "train.epochs must be >= 0"), (cfg.batch_size >= 1, "train.batch_size must be >= 1"),
              (cfg.grad_accum_steps >= 1, "train.grad_accum_steps must be >= 1"),
              (cfg.device in ("auto", "cpu", "cuda"), f"train.device {cfg.device!r} unknown; use auto, cpu or cuda"),
              (cfg.device != "cuda" or torch.cuda.is_available(),
               "train.device is cuda but no CUDA device is visible; set train.device=auto or cpu"),
              (cfg.mixed_precision in ("auto", "no", "fp16", "bf16", "fp8"),
               f"train.mixed_precision {cfg.mixed_precision!r} unknown; use auto, no, fp16, bf16 or fp8"),
              (cfg.patience is None or cfg.patience >= 1, "train.patience must be >= 1, or null to disable it"),
              (not cfg.checkpoint_every_steps or cfg.checkpoint_every_steps >= 1,
               "train.checkpoint_every_steps must be >= 1, or null")]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def collate(items: list[Batch]) -> Batch:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


class Trainer:
    """Train ``module`` on ``train_dataset`` (items: dicts of tensors, ``"target"`` for the label).

    loss_fn(outputs, batch) → scalar mean loss; forward_fn(module, batch) → outputs;
    score_fn(y_true, scores) → validation score, higher is better (early stopping);
    outputs_to_scores(outputs ndarray) → scores for score_fn. ``fit()`` returns the module
    with the best weights (or the last ones when there is no validation score).
    """

    def __init__(self, module: nn.Module, train_dataset: Dataset, val_dataset: Dataset | None = None, *,
                 loss_fn: Callable[[torch.Tensor, Batch], torch.Tensor], config: TrainConfig | None = None,
                 seed: int = 42, forward_fn: Callable[[nn.Module, Batch], torch.Tensor] = default_forward,
                 score_fn: Callable[[np.ndarray, np.ndarray], float] | None = None,
                 outputs_to_scores: Callable[[np.ndarray], np.ndarray] = lambda o: o,
                 checkpoint_dir: str | Path | None = None, log_dir: str | Path | None = None,
                 callbacks: Sequence[Callback] = ()):
        self.cfg = config or TrainConfig()
        check_config(self.cfg)
        self.module, self.train_dataset, self.val_dataset = module, train_dataset, val_dataset
        self.loss_fn, self.forward_fn, self.score_fn = loss_fn, forward_fn, score_fn
        self.outputs_to_scores = outputs_to_scores
        self.seed = seed
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.callbacks = [*default_loggers(log_dir), *callbacks]
        precision = resolve_mixed_precision(self.cfg.mixed_precision, self.cfg.device)
        self.accelerator = make_accelerator(precision, cpu=self.cfg.device == "cpu")
        self.should_stop = False  # a callback may set it; checked after each epoch
        self.history: list[dict[str, Any]] = []
        self._val_loader: DataLoader | None = None

    @property
    def is_main_process(self) -> bool:
        return self.accelerator.is_main_process

    def fit(self) -> nn.Module:
        cfg, acc = self.cfg, self.accelerator
        self.module.to(acc.device)
        optimizer = make_optimizer(self.module.parameters(), cfg)
        steps_per_epoch = math.ceil(len(self._epoch_batches(0)) / cfg.grad_accum_steps)
        scheduler = make_scheduler(optimizer, cfg, steps_per_epoch * cfg.epochs)
        scaler = acc.scaler  # a GradScaler under fp16, else None
        # counters and early-stopping state: saved in every checkpoint, restored on resume
        state = {"epoch": 0, "batch": 0, "global_step": 0, "best_score": -math.inf, "bad_epochs": 0,
                 "stopped": False, "loss_sum": 0.0, "n_seen": 0}
        best_weights = None
        resumed = load_checkpoint(self.checkpoint_dir, self.module) if self.checkpoint_dir else None
        if resumed is not None:
            saved, best_weights = resumed
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            if scaler is not None and saved["scaler"] is not None:
                scaler.load_state_dict(saved["scaler"])
            state.update(saved["counters"])
            set_rng_state(saved["rng"][min(acc.process_index, len(saved["rng"]) - 1)])
        model = acc.prepare_model(self.module)  # DDP wrapper / autocast forward where configured
        self._event("on_train_begin")

        for epoch in range(state["epoch"], cfg.epochs):
            if state["stopped"]:
                break
            t0 = time.perf_counter()
            batches = self._epoch_batches(epoch)
            if state["batch"] == 0:  # a fresh epoch, not a mid-epoch resume
                self._reseed(epoch)
                state["loss_sum"], state["n_seen"] = 0.0, 0
            self._event("on_epoch_begin", epoch)
            model.train()
            # the epoch's loss is summed on the device: no sync inside the step
            loss_sum = torch.zeros((), dtype=torch.float64, device=acc.device)
            n_seen = 0
            if not self.is_main_process:  # a resumed partial sum is global: count it once
                state["loss_sum"], state["n_seen"] = 0.0, 0
            loader = DataLoader(self.train_dataset, batch_sampler=batches[state["batch"]:], collate_fn=collate,
                                num_workers=cfg.num_workers, pin_memory=acc.device.type == "cuda",
                                generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))
            bar = self._progress(len(batches), epoch, initial=state["batch"])
            for i, batch in enumerate(loader, start=state["batch"]):
                batch = self._to_device(batch)
                # gradient accumulation: micro-batches of one group share one optimizer step;
                # the loss is a mean, so each micro-batch's loss is divided by the group size
                group_start = i - i % cfg.grad_accum_steps
                group_size = min(cfg.grad_accum_steps, len(batches) - group_start)
                last_in_group = i - group_start == group_size - 1
                with nullcontext() if last_in_group else acc.no_sync(model):  # DDP: all-reduce once per group
                    with acc.autocast():
                        loss = self.loss_fn(self.forward_fn(model, batch), batch)
                    acc.backward(loss / group_size if group_size > 1 else loss)  # scales the loss under fp16
                loss_sum += loss.detach() * len(batches[i])
                n_seen += len(batches[i])
                bar.update(1)
                if not last_in_group:
                    continue
                if cfg.max_grad_norm is not None:
                    if scaler is not None:
                        scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state["global_step"] += 1
                self._event("on_step_end", state["global_step"], loss.detach())
                if cfg.checkpoint_every_steps and state["global_step"] % cfg.checkpoint_every_steps == 0 \
                        and i + 1 < len(batches):
                    loss_so_far, n_so_far = self._epoch_loss(loss_sum, n_seen, state)
                    self._checkpoint(optimizer, scheduler, {**state, "batch": i + 1, "loss_sum": loss_so_far,
                                                            "n_seen": n_so_far})
            bar.close()
            total_loss, total_n = self._epoch_loss(loss_sum, n_seen, state)
            state["batch"], state["loss_sum"], state["n_seen"] = 0, 0.0, 0

            # validation, early stopping on the score (higher is better)
            score = self._validate(model)
            self._event("on_evaluate", epoch, score)
            new_best = None
            if score is not None and score > state["best_score"]:
                state["best_score"], state["bad_epochs"] = score, 0
                best_weights = new_best = module_state(acc.unwrap_model(model))
            elif score is not None:
                state["bad_epochs"] += 1
            logs = {"epoch": epoch + 1, "train_loss": round(total_loss / max(1, total_n), 6), "val_score": score,
                    "lr": scheduler.get_last_lr()[0], "seconds": round(time.perf_counter() - t0, 3)}
            self.history.append(logs)
            self._event("on_epoch_end", epoch, logs)
            patience_out = cfg.patience is not None and state["bad_epochs"] >= cfg.patience
            state["stopped"] = patience_out or self._any_process(self.should_stop)
            state["epoch"] = epoch + 1
            self._checkpoint(optimizer, scheduler, dict(state), best=new_best)

        final = acc.unwrap_model(model)
        if best_weights is not None:
            final.load_state_dict(best_weights)
        self._event("on_train_end")
        self.module = final
        return final

    # -- helpers, in the order fit() uses them ------------------------------------------
    def _event(self, name: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, name)(self, *args)

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """This process's batches of epoch ``epoch``: a (seed, epoch) permutation, sharded by rank."""
        n, world, rank = len(self.train_dataset), self.accelerator.num_processes, self.accelerator.process_index
        perm = np.random.default_rng([self.seed, epoch]).permutation(n)
        if n % world:  # pad so every process runs the same number of steps
            perm = np.concatenate([perm, perm[: world - n % world]])
        mine = perm[rank::world].tolist()
        bs = self.cfg.batch_size
        return [mine[i:i + bs] for i in range(0, len(mine), bs)]

    def _reseed(self, epoch: int) -> None:
        """Dropout / augmentation RNGs as a pure function of (seed, epoch, rank)."""
        a, b = np.random.SeedSequence([self.seed, epoch, self.accelerator.process_index]).generate_state(2)
        torch.manual_seed(int(a))  # also seeds every CUDA device
        np.random.seed(int(b))
        random.seed(int(a))

    def _progress(self, total: int, epoch: int, initial: int):
        from ..progress import progress  # a tqdm bar on a terminal; in a captured log, a line every few seconds

        return progress(total=total, initial=initial, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", unit="batches",
                        disable=not (self.cfg.progress and self.is_main_process))

    def _to_device(self, batch: Batch) -> Batch:
        return {k: v.to(self.accelerator.device, non_blocking=True) for k, v in batch.items()}

    def _epoch_loss(self, loss_sum: torch.Tensor, n_seen: int, state: dict[str, Any]) -> tuple[float, int]:
        """(loss sum, sample count) of the epoch so far over all processes; one device sync."""
        count = torch.tensor(float(n_seen + state["n_seen"]), dtype=torch.float64, device=loss_sum.device)
        local = torch.stack([loss_sum + state["loss_sum"], count])
        total = self.accelerator.reduce(local, "sum").cpu()
        return float(total[0]), int(total[1])

    def _any_process(self, flag: bool) -> bool:
        t = torch.tensor([float(flag)], device=self.accelerator.device)
        return bool(self.accelerator.reduce(t, "sum").item() > 0)

    def _checkpoint(self, optimizer, scheduler, counters: dict[str, Any],
                    best: dict[str, torch.Tensor] | None = None) -> None:
        if self.checkpoint_dir is None:
            return
        from accelerate.utils import gather_object

        acc = self.accelerator
        rngs = gather_object([rng_state()]) if acc.num_processes > 1 else [rng_state()]  # one per rank
        if self.is_main_process:
            save_checkpoint(self.checkpoint_dir, acc.unwrap_model(self.module), {
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": acc.scaler.state_dict() if acc.scaler is not None else None,
                "counters": counters, "rng": rngs}, best=best)
        acc.wait_for_everyone()

    def _validate(self, model: nn.Module) -> float | None:
        if self.val_dataset is None or self.score_fn is None or len(self.val_dataset) == 0:
            return None
        outputs, targets = self.predict(self.val_dataset, model=model, with_targets=True)
        return float(self.score_fn(targets, self.outputs_to_scores(outputs)))

    @torch.no_grad()
    def predict(self, dataset: Dataset, model: nn.Module | None = None, with_targets: bool = False):
        """Outputs (float32 ndarray) for every item of ``dataset``, in order.

        Under DDP each process runs a shard and ``gather_for_metrics`` drops the padding,
        so every sample is counted exactly once. ``with_targets`` also returns the targets.
        """
        acc = self.accelerator
        model = model if model is not None else self.module
        was_training = model.training
        model.eval()
        loader = self._val_loader if dataset is self.val_dataset else None  # val: prepared once, not per epoch
        if loader is None:
            loader = acc.prepare_data_loader(DataLoader(
                dataset, batch_size=self.cfg.eval_batch_size or self.cfg.batch_size, shuffle=False,
                collate_fn=collate, num_workers=self.cfg.num_workers))
            if dataset is self.val_dataset:
                self._val_loader = loader
        outs, tgts = [], []
        for batch in loader:
            with acc.autocast():
                out = self.forward_fn(model, batch)
            outs.append(acc.gather_for_metrics(out.float()).cpu())
            if with_targets:
                tgts.append(acc.gather_for_metrics(batch["target"]).cpu())
        model.train(was_training)
        outputs = torch.cat(outs).numpy() if outs else np.zeros((0,), dtype=np.float32)
        return (outputs, torch.cat(tgts).numpy() if tgts else np.zeros((0,))) if with_targets else outputs
