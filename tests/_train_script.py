"""Train MLPHead with the Trainer; used by the resume (SIGKILL) and DDP tests as a real subprocess.

usage: _train_script.py OUT [--kill-at-step N] [--every-steps N] [--batch-size B] [--epochs E] [--dropout P]
Resumes from OUT/checkpoints when there is one. Writes OUT/result.json (val scores, AUROC,
history) and OUT/final.safetensors (main process). Under DDP launch it with
``accelerate launch --multi_gpu --num_processes 2`` (CPU-only machines: DDP over gloo) or
``torchrun --nproc_per_node 2``.
"""

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from test_torch_head import MLPHead, make_data  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from verticalkit.core.train.callbacks import Callback  # noqa: E402
from verticalkit.core.heads.checkpoint import save_weights  # noqa: E402
from verticalkit.core.config import TrainConfig  # noqa: E402
from verticalkit.core.train.trainer import Trainer  # noqa: E402


class KillAt(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, trainer, step, loss):
        if step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--kill-at-step", type=int)
    p.add_argument("--every-steps", type=int)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.1)
    a = p.parse_args()
    out = Path(a.out)
    X, y = make_data(600)
    Xv, yv = make_data(201, seed=1)  # odd size: DDP must not double-count the padded sample
    head = MLPHead(dropout=a.dropout)
    head.task_kind_, head.n_outputs_ = "binary", 2
    head.fit_preprocessing(X, y)
    import torch

    torch.manual_seed(0)
    module = head.build_module(X, y)
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=0.01, patience=None, progress=False,
                      checkpoint_every_steps=a.every_steps, device="cpu")
    trainer = Trainer(module, head.make_dataset(X, y), head.make_dataset(Xv, yv), loss_fn=head.loss, config=cfg,
                      seed=7, forward_fn=head.forward_batch, outputs_to_scores=head.outputs_to_scores,
                      score_fn=lambda t, s: roc_auc_score(t, s), checkpoint_dir=out / "checkpoints",
                      callbacks=[KillAt(a.kill_at_step)] if a.kill_at_step else [])
    if (out / "checkpoints" / "last").is_dir():
        print("resumed from", out / "checkpoints" / "last")
    model = trainer.fit()
    outputs, targets = trainer.predict(head.make_dataset(Xv, yv), model=model, with_targets=True)
    if trainer.is_main_process:
        save_weights(out / "final.safetensors", model)
        scores = head.outputs_to_scores(outputs)
        (out / "result.json").write_text(json.dumps({
            "n_val": int(len(scores)), "scores": scores.tolist(), "auroc": float(roc_auc_score(targets, scores)),
            "targets_match": bool(np.array_equal(targets, yv)), "processes": trainer.accelerator.num_processes,
            "history": [{k: v for k, v in h.items() if k != "seconds"} for h in trainer.history]}))


if __name__ == "__main__":
    main()
