"""A PneumoniaMNIST training epoch through verticalkit's Trainer vs a plain PyTorch loop.

    python benchmarks/pneumonia_epoch.py [--reps 3] [--max-train 2048] [--threads 1] [--device cpu|cuda]

Both loops train the medical vertical's ``cnn`` network (width 32) on the same 28 px
PneumoniaMNIST training images (uint8 in memory, converted per item by the vertical's
``ImageDataset``; the first ``--max-train`` images, 0 = all 4708), batch 128, AdamW
(lr 2e-3, weight decay 1e-4), cosine schedule, gradient clipping at 1.0, the same (seed, epoch)
sample order, no augmentation, after one untimed warm-up of each; on ``--device`` (CPU: fp32;
CUDA: bf16 autocast in both loops, results in ``pneumonia_epoch_cuda``). Wall time per epoch:
medians of ``--reps`` interleaved repetitions (alternating which loop goes first); training
images/s from them; inference images/s of the kit's ``TorchHead.predict_outputs`` (float32,
batch 512, conversion from uint8 included) on the 624 test images, best of ``--reps``.
Goal: trainer / plain ≤ 1.03.
Needs ``pneumoniamnist.npz`` under ``$VERTICALKIT_DATA/pneumoniamnist/``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_vertical, plain_epoch, save_results  # noqa: E402

from verticalkit.core.config import TrainConfig  # noqa: E402
from verticalkit.core.train.trainer import Trainer  # noqa: E402

BATCH, LR, WD = 128, 2e-3, 1e-4
DEVICE = "cpu"  # set by --device


def network() -> nn.Module:
    from verticalkit.core.families.image import SmallCNN

    torch.manual_seed(0)
    return SmallCNN(1, 2, 32, 0.2)


def loss_fn(out, batch):
    return nn.functional.cross_entropy(out, batch["target"])


def plain(data, steps: int) -> None:
    plain_epoch(network(), data, loss_fn, steps, BATCH, LR, WD, device=DEVICE)


def trainer(data, steps: int) -> None:
    cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=LR, weight_decay=WD, patience=None, progress=False,
                      device=DEVICE, mixed_precision="bf16" if DEVICE == "cuda" else "no")
    Trainer(network(), data, loss_fn=loss_fn, config=cfg, seed=0).fit()
    if DEVICE == "cuda":
        torch.cuda.synchronize()


LOOPS = {"plain": plain, "trainer": trainer}


def inference_row(splits, reps: int) -> dict:
    """Images/s of the kit's inference path (one trained epoch is enough to time it)."""
    from verticalkit.verticals.medical_imaging.models import CNNHead

    from verticalkit.core.heads.base import FitContext
    from verticalkit.core.heads.torch_head import infer_task

    cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=LR, patience=None, progress=False, device=DEVICE)
    ctx = FitContext(task=infer_task(splits.train.y[:256]), train=cfg)
    head = CNNHead(augment="none").fit(splits.train.X[:256], splits.train.y[:256], context=ctx)
    head.predict_outputs(splits.test.X[:64], device=DEVICE)  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        head.predict_outputs(splits.test.X, device=DEVICE)
        best = min(best, time.perf_counter() - t)
    return {"loop": "kit inference (predict_outputs)", "median_s": round(best, 4), "ms_per_step": "", "min_s": "",
            "max_s": "", "images_per_s": round(len(splits.test) / best, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-train", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args(argv)
    global DEVICE
    DEVICE = args.device
    torch.set_num_threads(args.threads)
    from verticalkit.core.families.image import ImageDataset

    splits = load_vertical("medical_imaging").dataset("pneumoniamnist")().load()
    n = args.max_train or len(splits.train)
    data = ImageDataset(splits.train.X[:n], splits.train.y[:n])
    steps = -(-len(data) // BATCH)
    warm = ImageDataset(splits.train.X[:2 * BATCH], splits.train.y[:2 * BATCH])
    for fn in LOOPS.values():  # warm-up: lazy initialisation, kernel selection
        fn(warm, 2)
    times: dict[str, list[float]] = {k: [] for k in LOOPS}
    for rep in range(args.reps):
        for name in (list(LOOPS) if rep % 2 == 0 else list(LOOPS)[::-1]):
            t = time.perf_counter()
            LOOPS[name](data, steps)
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [{"loop": k, "median_s": round(med[k], 3), "ms_per_step": round(1000 * med[k] / steps, 1),
             "min_s": round(min(times[k]), 3), "max_s": round(max(times[k]), 3),
             "images_per_s": round(len(data) / med[k], 1)} for k in LOOPS]
    paired = statistics.median(t / p for t, p in zip(times["trainer"], times["plain"]))
    rows.append({"loop": "ratio trainer/plain", "median_s": round(med["trainer"] / med["plain"], 4),
                 "ms_per_step": "", "min_s": round(min(times["trainer"]) / min(times["plain"]), 4),
                 "max_s": round(max(times["trainer"]) / max(times["plain"]), 4), "images_per_s": ""})
    rows.append({"loop": "median of per-repetition ratios", "median_s": round(paired, 4), "ms_per_step": "",
                 "min_s": "", "max_s": "", "images_per_s": ""})
    rows.append(inference_row(splits, args.reps))
    cuda = DEVICE == "cuda"
    where = (f"CUDA ({torch.cuda.get_device_name()}), bf16 autocast in training" if cuda else
             f"CPU, {args.threads} torch thread(s), on a 2-core machine shared with other jobs")
    save_results("pneumonia_epoch_cuda" if cuda else "pneumonia_epoch", rows,
                 f"python benchmarks/pneumonia_epoch.py --reps {args.reps} --max-train {args.max_train} "
                 f"--threads {args.threads}" + (" --device cuda" if cuda else ""),
                 notes=f"PneumoniaMNIST 28 px, first {len(data)} training images ({steps} steps of {BATCH}), the "
                       f"vertical's cnn (width 32), AdamW + cosine + clipping, {where}; medians of {args.reps} "
                       f"interleaved repetitions. Goal: trainer/plain <= 1.03. Last row: the kit's inference "
                       f"(CNNHead.predict_outputs, float32, batch 512) on the {len(splits.test)} test images.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
