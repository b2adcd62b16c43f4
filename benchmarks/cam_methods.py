"""Class activation maps: the grad-cam package vs the kit's former hand-written Grad-CAM.

    python benchmarks/cam_methods.py [--reps 3] [--threads 2] [--size 32] [--n 8]

Models, trained here on the synthetic images of ``tiny.synthetic_images`` (class 1 carries a
bright Gaussian blob at a random place; seed 0, ``--size`` px, 240 images):

* ``cnn``: the kit's small CNN (width 16, 8 epochs);
* ``resnet18``: the kit's timm ResNet-18 (28 px small stem, from scratch, 3 epochs).

On ``--n`` held-out class-1 images (seed 1) each method explains class 1:

* ``hand-written Grad-CAM``: the kit's code before issue #17 (kept below as the reference);
* ``gradcam``, ``gradcam++``, ``scorecam``, ``eigencam``: :func:`report.grad_cam` (grad-cam package).

Columns: ``ms_per_batch`` (median of ``--reps``), ``pearson_vs_hand`` (mean over images of the
Pearson correlation with the hand-written map), ``max_abs_vs_hand`` (largest pixel difference
after scaling both maps the same way, min-max per image), ``peak_in_blob`` (share of images whose
map peaks within 1.5 blob sigmas of the planted blob's centre).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import save_results  # noqa: E402


def hand_written_grad_cam(module: nn.Module, images: torch.Tensor, classes: list[int]) -> np.ndarray:
    """The kit's Grad-CAM before the grad-cam package (maps divided by their max)."""
    from verticalkit.verticals.medical_imaging.report import cam_layer

    store: dict[str, torch.Tensor] = {}
    hook = cam_layer(module).register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    module.eval()
    try:
        with torch.enable_grad():
            out = module(images.clone().requires_grad_(True))
            score = out[torch.arange(len(classes)), torch.as_tensor(classes)].sum()
            grads = torch.autograd.grad(score, store["a"])[0]
    finally:
        hook.remove()
    acts = store["a"].detach()
    cam = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * acts).sum(dim=1, keepdim=True))
    cam = nn.functional.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return (cam / cam.flatten(1).max(dim=1).values.clamp_min(1e-8).view(-1, 1, 1)).numpy()


def blob_images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-1 images like ``synthetic_images`` with their blob centres ``(n, 2)`` (row, col)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    X, centres = np.empty((n, 1, size, size), dtype=np.float32), np.empty((n, 2))
    for i in range(n):
        img = rng.normal(0.35, 0.12, (size, size))
        cy, cx = rng.uniform(size * 0.2, size * 0.8, 2)
        img += 0.45 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 8) ** 2))
        X[i, 0], centres[i] = np.clip(img, 0, 1), (cy, cx)
    return X, centres


def train(name: str, size: int):
    from verticalkit.core.config import TrainConfig
    from verticalkit.core.data.adapter import Task
    from verticalkit.core.heads.base import FitContext
    from verticalkit.verticals.medical_imaging.models import CNNHead
    from verticalkit.verticals.medical_imaging.timm_models import ResNet18Head
    from verticalkit.verticals.medical_imaging.tiny import synthetic_images

    X, y, _ = synthetic_images(n=240, size=size, seed=0)
    task = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])
    epochs = 8 if name == "cnn" else 3
    ctx = FitContext(task=task, seed=0, train=TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, progress=False,
                                                          patience=None, mixed_precision="no"))
    head = CNNHead(width=16, augment="none") if name == "cnn" else ResNet18Head(image_size=28)
    return head.fit(X, y, context=ctx)


def minmax(m: np.ndarray) -> np.ndarray:
    lo, hi = m.min(axis=(1, 2), keepdims=True), m.max(axis=(1, 2), keepdims=True)
    return (m - lo) / np.maximum(hi - lo, 1e-7)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--n", type=int, default=8)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from verticalkit.verticals.medical_imaging.report import CAM_METHODS, grad_cam

    X, centres = blob_images(args.n, args.size, seed=1)
    images, target = torch.from_numpy(X), [1] * args.n
    radius = 1.5 * args.size / 8
    rows = []
    for model in ("cnn", "resnet18"):
        head = train(model, args.size)
        module = head.module_
        with torch.no_grad():
            p1 = float(torch.softmax(module.eval()(images), 1)[:, 1].mean())
        methods = {"hand-written Grad-CAM": lambda: hand_written_grad_cam(module, images, target)}
        methods.update({m: (lambda m=m: grad_cam(module, images, target, m)) for m in CAM_METHODS})
        ref = minmax(methods["hand-written Grad-CAM"]())
        for name, fn in methods.items():
            maps = fn()
            times = []
            for _ in range(args.reps):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            mm = minmax(maps)
            pearson = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(mm, ref)]
            peaks = np.array([np.unravel_index(m.argmax(), m.shape) for m in maps])
            inside = np.linalg.norm(peaks - centres, axis=1) <= radius
            rows.append({"model": model, "mean_p_class1": round(p1, 3), "method": name,
                         "ms_per_batch": round(1000 * statistics.median(times), 2),
                         "pearson_vs_hand": round(float(np.nanmean(pearson)), 4),
                         "max_abs_vs_hand": round(float(np.abs(mm - ref).max()), 4),
                         "peak_in_blob": round(float(inside.mean()), 3)})
    command = (f"python benchmarks/cam_methods.py --reps {args.reps} --threads {args.threads} --size {args.size} "
               f"--n {args.n}")
    notes = (f"CPU, {args.threads} torch thread(s), 2-core machine shared with other jobs. Models trained here on "
             f"240 synthetic {args.size} px images (seed 0); maps of class 1 on {args.n} held-out class-1 images "
             f"(seed 1), one batch. ms_per_batch: median of {args.reps} calls. pearson_vs_hand / max_abs_vs_hand: "
             f"agreement with the former hand-written Grad-CAM (both min-max scaled per image). peak_in_blob: share "
             f"of maps whose maximum lies within {radius:g} px of the planted blob's centre. mean_p_class1: the "
             f"model's mean class-1 probability on those images (how well it learned the blob).")
    save_results("cam_methods", rows, command, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
