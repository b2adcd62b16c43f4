"""The Trainer: one readable training loop on Hugging Face Accelerate.

Devices, mixed precision and DDP come from Accelerate (``accelerate launch`` or
``torchrun``); the loop itself is plain PyTorch. Determinism: the sample order of
epoch ``e`` is a permutation drawn from ``(seed, e)`` and the torch RNG is reseeded
from ``(seed, e)`` at each epoch start, so resuming from a checkpoint replays the
remaining epochs bit for bit. Under DDP each process takes every ``world``-th
sample of that permutation, so ``batch_size`` is per process and the global batch
is ``batch_size × processes × grad_accum_steps``.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .callbacks import Callback, default_loggers
from .checkpoint import load_checkpoint, module_state, save_checkpoint, save_weights
from .config import TrainConfig
from .errors import ConfigError

Batch = dict[str, torch.Tensor]


def default_forward(module: nn.Module, batch: Batch) -> torch.Tensor:
    return module(batch["inputs"])


def resolve_mixed_precision(setting: str) -> str:
    """``auto`` → bf16 on CUDA with bf16 support, fp16 on other CUDA, ``no`` on CPU."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


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


def collate(items: list[Batch]) -> Batch:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


class Trainer:
    """Train ``module`` on ``train_dataset`` (items: dicts of tensors, ``"target"`` for the label).

    loss_fn(outputs, batch) → scalar mean loss; forward_fn(module, batch) → outputs;
    score_fn(y_true, scores) → validation score, higher is better (early stopping);
    outputs_to_scores(outputs ndarray) → scores for score_fn.
    """

    def __init__(self, module: nn.Module, train_dataset: Dataset, val_dataset: Dataset | None = None, *,
                 loss_fn: Callable[[torch.Tensor, Batch], torch.Tensor], config: TrainConfig | None = None,
                 seed: int = 42, forward_fn: Callable[[nn.Module, Batch], torch.Tensor] = default_forward,
                 score_fn: Callable[[np.ndarray, np.ndarray], float] | None = None,
                 outputs_to_scores: Callable[[np.ndarray], np.ndarray] = lambda o: o,
                 checkpoint_dir: str | Path | None = None, log_dir: str | Path | None = None,
                 callbacks: Sequence[Callback] = ()):
        from accelerate import Accelerator

        self.cfg = config or TrainConfig()
        self.module, self.train_dataset, self.val_dataset = module, train_dataset, val_dataset
        self.loss_fn, self.forward_fn, self.score_fn = loss_fn, forward_fn, score_fn
        self.outputs_to_scores = outputs_to_scores
        self.seed = seed
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.callbacks = [*default_loggers(log_dir), *callbacks]
        self.accelerator = Accelerator(mixed_precision=resolve_mixed_precision(self.cfg.mixed_precision),
                                       cpu=self.cfg.device == "cpu")
        self.should_stop = False
        self.history: list[dict[str, Any]] = []

    @property
    def is_main_process(self) -> bool:
        return self.accelerator.is_main_process

    def _event(self, name: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, name)(self, *args)

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """This process's batches of epoch ``epoch``: a (seed, epoch) permutation, sharded by rank."""
        n, world, rank = len(self.train_dataset), self.accelerator.num_processes, self.accelerator.process_index
        perm = np.random.default_rng([self.seed, epoch]).permutation(n)
        if n % world:  # pad so every process runs the same number of steps
            perm = np.concatenate([perm, perm[: world - n % world]])
        mine = perm[rank::world]
        bs = self.cfg.batch_size
        return [mine[i:i + bs] for i in range(0, len(mine), bs)]

    def fit(self) -> nn.Module:
        cfg, acc = self.cfg, self.accelerator
        torch.manual_seed(self.seed)
        optimizer = make_optimizer(self.module.parameters(), cfg)
        steps_per_epoch = math.ceil(len(self._epoch_batches(0)) / cfg.grad_accum_steps)
        scheduler = make_scheduler(optimizer, cfg, steps_per_epoch * cfg.epochs)
        # counters and early-stopping state, restored on resume
        state = {"epoch": 0, "batch": 0, "global_step": 0, "best_score": -math.inf, "bad_epochs": 0}
        best_weights = None
        if self.checkpoint_dir is not None:
            saved = load_checkpoint(self.checkpoint_dir, self.module)
            if saved is not None:
                optimizer.load_state_dict(saved["optimizer"])
                scheduler.load_state_dict(saved["scheduler"])
                state.update(saved["counters"])
                torch.set_rng_state(saved["torch_rng"])
                best_file = self.checkpoint_dir / "best.safetensors"
                if best_file.exists():
                    from safetensors.torch import load_file

                    best_weights = load_file(str(best_file))
        model, optimizer = acc.prepare(self.module, optimizer)
        self._event("on_train_begin")

        for epoch in range(state["epoch"], cfg.epochs):
            t0 = time.perf_counter()
            batches = self._epoch_batches(epoch)
            if state["batch"] == 0:  # fresh epoch (not a mid-epoch resume): reseed dropout & augmentation
                torch.manual_seed(self.seed * 100_003 + epoch)
            self._event("on_epoch_begin", epoch)
            model.train()
            loss_sum, n_seen = torch.zeros((), device=acc.device), 0
            bar = self._progress(len(batches), epoch)
            bar.update(state["batch"])
            for i in range(state["batch"], len(batches)):
                group_start = i - i % cfg.grad_accum_steps
                group_size = min(cfg.grad_accum_steps, len(batches) - group_start)
                last_in_group = (i - group_start) == group_size - 1
                batch = self._to_device(collate([self.train_dataset[int(j)] for j in batches[i]]))
                with (nullcontext() if last_in_group else acc.no_sync(model)):
                    with acc.autocast():
                        loss = self.loss_fn(self.forward_fn(model, batch), batch)
                    acc.backward(loss / group_size)
                loss_sum += loss.detach() * len(batches[i])
                n_seen += len(batches[i])
                bar.update(1)
                if last_in_group:
                    if cfg.max_grad_norm is not None:
                        acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    state["global_step"] += 1
                    self._event("on_step_end", state["global_step"], None)
                    if (cfg.checkpoint_every_steps and state["global_step"] % cfg.checkpoint_every_steps == 0
                            and i + 1 < len(batches)):
                        state["batch"] = i + 1
                        self._checkpoint(optimizer, scheduler, state, epoch)
            bar.close()
            state["batch"] = 0
            train_loss = (acc.reduce(loss_sum, "sum").item() / max(1, n_seen * acc.num_processes))
            score = self._validate(model)
            self._event("on_evaluate", epoch, score)
            improved = score is not None and score > state["best_score"]
            if improved:
                state["best_score"], state["bad_epochs"] = score, 0
                best_weights = module_state(acc.unwrap_model(model))
                if self.checkpoint_dir is not None and self.is_main_process:
                    save_weights(self.checkpoint_dir / "best.safetensors", acc.unwrap_model(model))
            elif score is not None:
                state["bad_epochs"] += 1
            logs = {"epoch": epoch + 1, "train_loss": round(train_loss, 6), "val_score": score,
                    "lr": scheduler.get_last_lr()[0], "seconds": round(time.perf_counter() - t0, 3)}
            self.history.append(logs)
            self._event("on_epoch_end", epoch, logs)
            state["epoch"] = epoch + 1
            self._checkpoint(optimizer, scheduler, state, epoch + 1)
            if cfg.patience is not None and state["bad_epochs"] >= cfg.patience:
                break
            if self.should_stop:
                break

        final = acc.unwrap_model(model)
        if best_weights is not None:
            final.load_state_dict(best_weights)
        self._event("on_train_end")
        self.module = final
        return final

    def _checkpoint(self, optimizer, scheduler, state: dict[str, Any], epoch: int) -> None:
        if self.checkpoint_dir is None:
            return
        self.accelerator.wait_for_everyone()
        if self.is_main_process:
            save_checkpoint(self.checkpoint_dir, self.accelerator.unwrap_model(self.module), {
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "counters": dict(state), "torch_rng": torch.get_rng_state()})
        self.accelerator.wait_for_everyone()

    def _progress(self, total: int, epoch: int):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", leave=False,
                    disable=not (self.cfg.progress and self.is_main_process))

    def _to_device(self, batch: Batch) -> Batch:
        return {k: v.to(self.accelerator.device, non_blocking=True) for k, v in batch.items()}

    def _validate(self, model: nn.Module) -> float | None:
        if self.val_dataset is None or self.score_fn is None or len(self.val_dataset) == 0:
            return None
        outputs, targets = self.predict(self.val_dataset, model=model, with_targets=True)
        return float(self.score_fn(targets, self.outputs_to_scores(outputs)))

    @torch.no_grad()
    def predict(self, dataset: Dataset, model: nn.Module | None = None, with_targets: bool = False):
        """Outputs for every item of ``dataset`` in order; under DDP gathered so each counts once."""
        acc = self.accelerator
        model = model if model is not None else self.module
        was_training = model.training
        model.eval()
        loader = acc.prepare_data_loader(DataLoader(dataset, batch_size=self.cfg.eval_batch_size or self.cfg.batch_size,
                                                    shuffle=False, collate_fn=collate))
        outs, tgts = [], []
        for batch in loader:
            with acc.autocast():
                out = self.forward_fn(model, batch)
            outs.append(acc.gather_for_metrics(out.float()).cpu())
            if with_targets:
                tgts.append(acc.gather_for_metrics(batch["target"]).cpu())
        model.train(was_training)
        outputs = torch.cat(outs).numpy()
        return (outputs, torch.cat(tgts).numpy()) if with_targets else outputs
