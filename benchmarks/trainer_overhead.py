"""Trainer overhead: the same model, data, batch size and steps through a plain PyTorch loop
and through verticalkit's Trainer, interleaved in one run.

    python benchmarks/trainer_overhead.py [--reps 11] [--steps 150] [--threads 1] [--device cpu|cuda]

Both loops: MLP 256→1024→1024→2, AdamW, cosine schedule, gradient clipping at 1.0, the
same (seed, epoch) sample order and batches through a DataLoader, on ``--device`` (CPU: fp32;
CUDA: bf16 autocast, what the Trainer's ``mixed_precision=auto`` picks there; results in
``trainer_overhead_cuda``). Wall time: medians
of ``--reps`` interleaved repetitions (alternating which loop goes first), untraced.
Memory: each loop once more in a fresh subprocess (both import the same modules): peak
resident set size of that process (``ru_maxrss``) and tracemalloc's Python-heap peak
during the loop (which does not see torch's tensor memory); on CUDA also the peak of
``torch.cuda.max_memory_allocated``. Goal: wall-time ratio ≤ 1.03.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import accelerate  # noqa: F401  (imported by the Trainer; imported here so both memory children load the same libraries)
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from _common import plain_epoch, save_results  # noqa: E402

from verticalkit.core.config import TrainConfig  # noqa: E402
from verticalkit.core.train.trainer import Trainer  # noqa: E402

D, BATCH = 256, 64
DEVICE = "cpu"  # set by --device


class Data(torch.utils.data.Dataset):
    def __init__(self, n: int):
        g = torch.Generator().manual_seed(0)
        self.X = torch.randn(n, D, generator=g)
        self.y = (self.X[:, 0] > 0).long()

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return {"inputs": self.X[i], "target": self.y[i]}


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 2))


def loss_fn(out, batch):
    return nn.functional.cross_entropy(out, batch["target"])


def plain(data: Data, steps: int) -> None:
    """The reference loop, written as one would by hand."""
    plain_epoch(model(), data, loss_fn, steps, BATCH, 1e-3, device=DEVICE)


def trainer(data: Data, steps: int) -> None:
    cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=1e-3, patience=None, progress=False, device=DEVICE)
    Trainer(model(), data, loss_fn=loss_fn, config=cfg, seed=0).fit()
    if DEVICE == "cuda":
        torch.cuda.synchronize()


LOOPS = {"plain": plain, "trainer": trainer}


def child(name: str, steps: int) -> None:
    """Memory of one loop in a fresh process: prints JSON."""
    data = Data(steps * BATCH)
    tracemalloc.start()
    LOOPS[name](data, steps)
    heap = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    gpu = torch.cuda.max_memory_allocated() / 2**20 if DEVICE == "cuda" else 0.0
    print(json.dumps({"rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "heap_MiB": heap / 2**20,
                      "cuda_MiB": gpu}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=11)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--child", choices=list(LOOPS))
    a = p.parse_args()
    global DEVICE
    DEVICE = a.device
    torch.set_num_threads(a.threads)
    if a.child:
        return child(a.child, a.steps)
    data = Data(a.steps * BATCH)
    plain(data, 20)  # warm-up
    trainer(data, 20)
    times: dict[str, list[float]] = {"plain": [], "trainer": []}
    for rep in range(a.reps):  # interleaved, alternating which goes first
        order = ["plain", "trainer"] if rep % 2 == 0 else ["trainer", "plain"]
        for name in order:
            t0 = time.perf_counter()
            LOOPS[name](data, a.steps)
            times[name].append(time.perf_counter() - t0)
    mem = {}
    for name in LOOPS:
        out = subprocess.run([sys.executable, __file__, "--child", name, "--steps", str(a.steps),
                              "--threads", str(a.threads), "--device", a.device], capture_output=True, text=True, check=True)
        mem[name] = json.loads(out.stdout.strip().splitlines()[-1])
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [{"loop": k, "median_s": med[k], "ms_per_step": 1000 * med[k] / a.steps,
             "min_s": min(times[k]), "max_s": max(times[k]),
             "peak_rss_MiB": mem[k]["rss_MiB"], "py_heap_peak_MiB": mem[k]["heap_MiB"],
             "cuda_peak_MiB": mem[k]["cuda_MiB"]} for k in LOOPS]
    rows.append({"loop": "ratio trainer/plain", "median_s": med["trainer"] / med["plain"],
                 "ms_per_step": med["trainer"] / med["plain"],
                 "min_s": min(times["trainer"]) / min(times["plain"]), "max_s": max(times["trainer"]) / max(times["plain"]),
                 "peak_rss_MiB": mem["trainer"]["rss_MiB"] / mem["plain"]["rss_MiB"],
                 "py_heap_peak_MiB": mem["trainer"]["heap_MiB"] / mem["plain"]["heap_MiB"],
                 "cuda_peak_MiB": mem["trainer"]["cuda_MiB"] / mem["plain"]["cuda_MiB"] if mem["plain"]["cuda_MiB"] else ""})
    # each repetition runs both loops back to back: its ratio is little affected by slow drifts in machine load
    paired = statistics.median(t / p for t, p in zip(times["trainer"], times["plain"]))
    rows.append({"loop": "median of per-repetition ratios", "median_s": paired, "ms_per_step": paired,
                 "min_s": "", "max_s": "", "peak_rss_MiB": "", "py_heap_peak_MiB": "", "cuda_peak_MiB": ""})
    print(json.dumps({"times": times}, indent=1))
    cuda = a.device == "cuda"
    where = (f"CUDA ({torch.cuda.get_device_name()}), bf16 autocast in both loops" if cuda else
             f"CPU, {a.threads} torch thread(s), on a 2-core machine shared with other jobs")
    save_results("trainer_overhead_cuda" if cuda else "trainer_overhead", rows,
                 f"python benchmarks/trainer_overhead.py --reps {a.reps} --steps {a.steps} --threads {a.threads}"
                 + (" --device cuda" if cuda else ""),
                 notes=f"MLP {D}→1024→1024→2, batch {BATCH}, {a.steps} steps, {where}. Times: medians of {a.reps} interleaved repetitions "
                       f"(min/max also shown; the ratio row divides the two loops' medians, mins and maxes; the last row is the median of the per-repetition trainer/plain ratios). Memory: "
                       f"one more run of each loop in a fresh process — peak RSS of that process (ru_maxrss, includes "
                       f"the imported libraries, the same in both) and tracemalloc's Python-heap peak during the loop "
                       f"(torch tensor memory is not traced there). Goal: wall-time ratio <= 1.03.")


if __name__ == "__main__":
    main()
