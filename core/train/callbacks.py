"""Trainer callbacks: a small named set of events.

Events, in order: ``on_train_begin`` → per epoch ``on_epoch_begin`` → per optimizer
step ``on_step_end`` → ``on_evaluate`` (after validation) → ``on_epoch_end`` →
``on_train_end``. A callback may set ``trainer.should_stop = True`` to stop early
(checked after each epoch). ``on_step_end`` gets the last micro-batch's loss as a
detached 0-d tensor: call ``.item()`` only when you need it (it waits for the device).
Logging callbacks write on the main process only.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any


class Callback:
    """Base class: override the events you need."""

    def on_train_begin(self, trainer: Any) -> None: ...
    def on_epoch_begin(self, trainer: Any, epoch: int) -> None: ...
    def on_step_end(self, trainer: Any, step: int, loss: Any) -> None: ...
    def on_evaluate(self, trainer: Any, epoch: int, score: float | None) -> None: ...
    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None: ...
    def on_train_end(self, trainer: Any) -> None: ...


class CSVLogger(Callback):
    """Appends one row per epoch to ``train_log.csv`` (main process only)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        if not trainer.is_main_process:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(logs))
            if new:
                w.writeheader()
            w.writerow(logs)


class TensorBoardLogger(Callback):
    """Writes epoch logs to TensorBoard when ``tensorboard`` is installed."""

    def __init__(self, log_dir: str | Path):
        from torch.utils.tensorboard import SummaryWriter  # raises ImportError when not installed

        self.writer = SummaryWriter(str(log_dir))

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        if trainer.is_main_process:
            for k, v in logs.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.writer.add_scalar(k, v, epoch)

    def on_train_end(self, trainer: Any) -> None:
        self.writer.close()


class MLflowLogger(Callback):
    """Logs epoch metrics to the active MLflow run, or to ``$MLFLOW_TRACKING_URI``."""

    def __init__(self) -> None:
        import mlflow  # raises ImportError when not installed

        self.mlflow = mlflow
        self.own_run = False

    def on_train_begin(self, trainer: Any) -> None:
        if trainer.is_main_process and self.mlflow.active_run() is None:
            self.mlflow.start_run()
            self.own_run = True

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        if trainer.is_main_process:
            self.mlflow.log_metrics({k: float(v) for k, v in logs.items()
                                     if isinstance(v, (int, float)) and k != "epoch"}, step=epoch)

    def on_train_end(self, trainer: Any) -> None:
        if self.own_run:
            self.mlflow.end_run()


def default_loggers(log_dir: str | Path | None) -> list[Callback]:
    """CSV into ``log_dir`` always; TensorBoard when installed; MLflow when installed and
    configured (``MLFLOW_TRACKING_URI`` set or a run active), so it never litters ``./mlruns``."""
    out: list[Callback] = []
    if log_dir is not None:
        out.append(CSVLogger(Path(log_dir) / "train_log.csv"))
        try:
            out.append(TensorBoardLogger(Path(log_dir) / "tensorboard"))
        except ImportError:
            pass
    # A run can only be active if mlflow is already imported: importing it just to ask costs
    # ~70 MiB of Python heap (pandas, pyarrow) in every training process.
    mlflow = sys.modules.get("mlflow")
    if os.environ.get("MLFLOW_TRACKING_URI") or (mlflow is not None and mlflow.active_run() is not None):
        try:
            out.append(MLflowLogger())
        except ImportError:
            pass
    return out
