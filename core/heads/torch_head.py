"""TorchHead: the scikit-learn-style base of every torch head.

A subclass implements:

* ``build_module(X, y) -> nn.Module``: the network. Called in ``fit`` after
  ``fit_preprocessing`` (X, y: the training data) and in ``load`` with ``X = y = None``,
  so build it from fitted attributes (``n_features_in_``, the base's ``n_outputs_``...);
  the base seeds torch first, so construction is deterministic under the seed;
* ``make_dataset(X, y=None) -> Dataset``: items are dicts of tensors (``"target"`` when y given);
* optionally ``fit_preprocessing(X, y)``: fit what turns inputs into tensors, setting
  fitted attributes (ending in ``_``), including what ``build_module`` needs, and
  ``get_state() -> dict`` / ``set_state(dict)``: those fitted attributes as JSON (saved
  in ``config.json``);
* optionally ``upgrade_weights(state)``: rename the keys of weights saved by an older layout;
* optionally ``forward_batch(module, batch)``, ``loss(outputs, batch)`` and
  ``outputs_to_scores(outputs)`` (defaults: ``module(batch["inputs"])``, cross-entropy /
  BCE / MSE by task kind, softmax / sigmoid / identity), and ``predict_batch_size``
  (items per forward pass in :meth:`TorchHead.predict_outputs`, default 512).

The base trains with :class:`~verticalkit.core.train.trainer.Trainer` and saves
``config.json`` + ``model.safetensors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from .checkpoint import load_weights, save_weights
from ..config import TrainConfig
from ..data.adapter import Task
from ..errors import ModelLoadError
from .base import FitContext, Head, write_json

FORMAT_VERSION = 1


def infer_task(y: np.ndarray) -> Task:
    """A task guess for sklearn-style use without a FitContext."""
    y = np.asarray(y)
    if y.ndim == 2:
        return Task(kind="multilabel", target="y", primary_metric="roc_auc", classes=[str(i) for i in range(y.shape[1])])
    values = np.unique(y)
    if np.issubdtype(y.dtype, np.floating) and not np.all(values == np.round(values)):
        return Task(kind="regression", target="y", primary_metric="rmse")
    kind = "binary" if len(values) <= 2 else "multiclass"
    return Task(kind=kind, target="y", primary_metric="roc_auc", classes=[str(int(v)) for v in range(int(values.max()) + 1)])


def standalone_context(y: Any) -> FitContext:
    """The context of a head fitted outside a run: task from ``y``, seed 42, quiet trainer."""
    return FitContext(task=infer_task(np.asarray(y)), train=TrainConfig(progress=False, patience=None))


class TorchHead(Head):
    """Base class; see the module docstring for what a subclass implements."""

    predict_batch_size: int = 512  # items per forward pass at prediction (a class attribute, not a parameter)

    # -- hooks ------------------------------------------------------------------------
    def fit_preprocessing(self, X: Any, y: Any) -> None:
        pass

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass

    def build_module(self, X: Any, y: Any) -> nn.Module:
        raise NotImplementedError

    def upgrade_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The saved weights as this version's module names them (a head whose module layout changed
        renames old keys here); by default unchanged."""
        return state

    def make_dataset(self, X: Any, y: Any = None) -> Dataset:
        raise NotImplementedError

    def forward_batch(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return module(batch["inputs"])

    def loss(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        kind = self.task_kind_
        if kind in ("binary", "multiclass"):
            return nn.functional.cross_entropy(outputs.float(), batch["target"].long())
        if kind == "multilabel":
            return nn.functional.binary_cross_entropy_with_logits(outputs.float(), batch["target"].float())
        return nn.functional.mse_loss(outputs.float().reshape(batch["target"].shape), batch["target"].float())

    def outputs_to_scores(self, outputs: np.ndarray) -> np.ndarray:
        kind = self.task_kind_
        if kind in ("binary", "multiclass"):
            z = outputs - outputs.max(axis=1, keepdims=True)
            e = np.exp(z)
            p = e / e.sum(axis=1, keepdims=True)
            return p[:, 1] if kind == "binary" else p
        if kind == "multilabel":
            return 1 / (1 + np.exp(-outputs))
        return outputs.reshape(len(outputs), -1).squeeze(1) if outputs.ndim > 1 and outputs.shape[1] == 1 else outputs

    # -- sklearn API ------------------------------------------------------------------
    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None) -> TorchHead:
        from ..train.trainer import Trainer

        y = np.asarray(y)
        context = context or standalone_context(y)
        self.task_kind_ = context.task.kind
        self.n_outputs_ = self._n_outputs(context.task, y)
        torch.manual_seed(context.seed)
        np.random.seed(context.seed % 2**32)
        self.fit_preprocessing(X, y)
        module = self.build_module(X, y)
        val = self.make_dataset(X_val, np.asarray(y_val)) if X_val is not None and y_val is not None else None
        trainer = Trainer(module, self.make_dataset(X, y), val, loss_fn=self.loss, config=context.train,
                          seed=context.seed, forward_fn=self.forward_batch, score_fn=context.score_fn,
                          outputs_to_scores=self.outputs_to_scores, checkpoint_dir=context.checkpoint_dir,
                          log_dir=context.log_dir)
        self.module_ = trainer.fit().cpu().eval()
        self.history_ = trainer.history
        return self

    @staticmethod
    def _n_outputs(task: Task, y: np.ndarray) -> int:
        if task.kind in ("binary", "multiclass"):
            return max(len(task.classes), int(y.max()) + 1, 2)
        if y.ndim == 2:
            return y.shape[1]
        return 1

    @torch.no_grad()
    def predict_outputs(self, X: Any, batch_size: int | None = None, device: str | torch.device | None = None
                        ) -> np.ndarray:
        """Raw module outputs (logits) for ``X``, in order, as float32, ``batch_size`` items per forward
        pass (None: ``predict_batch_size``). ``device``: None computes where the module is (the CPU
        after ``fit`` / ``load``; ``module_.cuda()`` first to score on a GPU); a device moves the module
        there for the call and back after it."""
        from ..train.trainer import collate

        batch_size = batch_size or self.predict_batch_size
        home = next(self.module_.parameters(), torch.empty(0)).device
        device = home if device is None else torch.device(device)
        ds = self.make_dataset(X)
        module = self.module_.to(device).eval()
        outs = []
        try:
            for start in range(0, len(ds), batch_size):
                batch = collate([ds[i] for i in range(start, min(start + batch_size, len(ds)))])
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                outs.append(self.forward_batch(module, batch).float().cpu())
        finally:
            self.module_ = module.to(home)
        return torch.cat(outs).numpy() if outs else np.zeros((0, self.n_outputs_), dtype=np.float32)

    def predict_proba(self, X: Any) -> np.ndarray:
        scores = self.outputs_to_scores(self.predict_outputs(X))
        return np.stack([1 - scores, scores], axis=1) if self.task_kind_ == "binary" else scores

    def predict(self, X: Any) -> np.ndarray:
        if self.task_kind_ in ("binary", "multiclass"):
            return self.predict_proba(X).argmax(axis=1)
        if self.task_kind_ == "multilabel":
            return (self.predict_proba(X) >= 0.5).astype(int)
        return self.outputs_to_scores(self.predict_outputs(X))

    # -- persistence ------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "config.json", {
            "format_version": FORMAT_VERSION, "class": type(self).__name__, "params": self.get_params(deep=False),
            "task_kind": self.task_kind_, "n_outputs": self.n_outputs_, "state": self.get_state()})
        save_weights(path / "model.safetensors", self.module_)

    @classmethod
    def load(cls, path: str | Path) -> TorchHead:
        path = Path(path)
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise ModelLoadError(f"{cfg_file} not found; the folder does not hold a saved {cls.__name__}")
        cfg = json.loads(cfg_file.read_text())
        if cfg.get("format_version") != FORMAT_VERSION:
            raise ModelLoadError(f"{cfg_file}: torch head format {cfg.get('format_version')} is not {FORMAT_VERSION}; "
                                 f"retrain with this verticalkit version")
        if cfg.get("class") != cls.__name__:
            raise ModelLoadError(f"{cfg_file} holds a {cfg.get('class')}, not a {cls.__name__}; check the model name")
        head = cls(**cfg["params"])
        head.task_kind_, head.n_outputs_ = cfg["task_kind"], cfg["n_outputs"]
        head.set_state(cfg["state"])
        head.module_ = head.build_module(None, None)
        load_weights(path / "model.safetensors", head.module_, head.upgrade_weights)
        head.module_.eval()
        return head
