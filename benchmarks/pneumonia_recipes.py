"""PneumoniaMNIST training recipes for the medical ``cnn`` head: seeds, ensembles, time.

    VERTICALKIT_DATA=../shared/data python benchmarks/pneumonia_recipes.py \
        [--recipes default balanced_tta ...] [--seeds 0 1 2] [--device cpu|cuda] [--jobs 1] [--name NAME]

Each recipe is a fixed set of config overrides (``RECIPES`` below, written before any test
score was read). Every (recipe, seed) pair is a full ``vk.train`` run on the official split (early
stopping and the checkpoint choice on the validation AUC; the test split is scored once at the
end): validation and test ROC-AUC and MedMNIST's ACC (accuracy at 0.5), the training seconds of the run, and the
mean over seeds. The ensemble row of a recipe averages its seeds' test probabilities (the
``ens`` rows: what a small ensemble of the recipe gives, its time the sum of its runs).
``--jobs`` runs pairs in parallel processes (a GPU holds several of these small runs at once).
Results: ``benchmarks/results/<name>.{json,md}`` (default ``pneumonia_recipes_<device>``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import save_results  # noqa: E402

COMMAND = "VERTICALKIT_DATA=../shared/data python benchmarks/pneumonia_recipes.py"

# model_params / train overrides on top of the vertical's cnn defaults (20 epochs, patience 5, affine)
RECIPES: dict[str, dict] = {
    "default": {},
    "flip": {"model_params": {"augment": "flip+affine"}},
    "balanced": {"model_params": {"class_weight": "balanced"}},
    "tta": {"model_params": {"augment": "flip+affine", "tta": "flip"}},
    "balanced_tta": {"model_params": {"augment": "flip+affine", "class_weight": "balanced", "tta": "flip"}},
    "long": {"train": {"epochs": 40, "patience": 10}},
    "wide_long_balanced_tta": {"model_params": {"width": 64, "augment": "flip+affine", "class_weight": "balanced",
                                                "tta": "flip"}, "train": {"epochs": 40, "patience": 10}},
}


def one_run(recipe: str, seed: int, device: str, threads: int, max_epochs: int = 0) -> dict:
    """Train one (recipe, seed); return its test metrics, seconds and test probabilities."""
    import torch

    torch.set_num_threads(threads)
    import verticalkit as vk
    from sklearn.metrics import accuracy_score, roc_auc_score
    from verticalkit.core.heads.predictor import Predictor

    over = RECIPES[recipe]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        run = vk.train("medical_imaging", "pneumoniamnist", "cnn", out=Path(tmp) / "run", seed=seed,
                       model_params=dict(over.get("model_params", {})),
                       train={"device": device, "progress": False, **over.get("train", {}),
                              **({"epochs": max_epochs} if max_epochs else {})},
                       eval={"report": False, "baselines": False, "n_bootstrap": 100})
        seconds = time.perf_counter() - t
        splits = vk.load_dataset("medical_imaging", "pneumoniamnist")
        # the head itself (vk.load would also import the serving schemas, i.e. pydantic)
        head = Predictor.load(run.dir / "model").head
        p, p_val = head.predict_proba(splits.test.X)[:, 1], head.predict_proba(splits.val.X)[:, 1]
        y_val = np.asarray(splits.val.y).ravel()
    return {"recipe": recipe, "seed": seed, "auc": run.metrics["roc_auc"], "acc": run.metrics["accuracy"],
            "val_auc": roc_auc_score(y_val, p_val), "val_acc": accuracy_score(y_val, p_val >= 0.5),
            "seconds": seconds, "p": p.tolist(), "y": np.asarray(splits.test.y).ravel().tolist()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--name", default=None)
    ap.add_argument("--max-epochs", type=int, default=0, help="cap the epochs (a smoke test; 0: the recipe's)")
    args = ap.parse_args(argv)
    from sklearn.metrics import accuracy_score, roc_auc_score

    pairs = [(r, s) for r in args.recipes for s in args.seeds]
    t0 = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        futures = [pool.submit(one_run, r, s, args.device, args.threads, args.max_epochs) for r, s in pairs]
        for future in as_completed(futures):  # a line per finished run: a cut-short benchmark keeps them
            results.append(future.result())
            print(json.dumps({k: v for k, v in results[-1].items() if k not in ("p", "y")}), flush=True)
    wall = time.perf_counter() - t0
    rows = []
    for recipe in args.recipes:
        mine = sorted((r for r in results if r["recipe"] == recipe), key=lambda r: r["seed"])
        for r in mine:
            rows.append({"recipe": recipe, "seed": r["seed"], "val_auc": round(r["val_auc"], 4),
                         "val_acc": round(r["val_acc"], 4), "roc_auc": round(r["auc"], 4),
                         "accuracy": round(r["acc"], 4), "run_seconds": round(r["seconds"], 1)})
        rows.append({"recipe": recipe, "seed": "mean", "val_auc": round(statistics.mean(r["val_auc"] for r in mine), 4),
                     "val_acc": round(statistics.mean(r["val_acc"] for r in mine), 4),
                     "roc_auc": round(statistics.mean(r["auc"] for r in mine), 4),
                     "accuracy": round(statistics.mean(r["acc"] for r in mine), 4),
                     "run_seconds": round(statistics.mean(r["seconds"] for r in mine), 1)})
        if len(mine) > 1:
            p, y = np.mean([r["p"] for r in mine], axis=0), np.asarray(mine[0]["y"])
            rows.append({"recipe": recipe, "seed": f"ens{len(mine)}", "val_auc": "", "val_acc": "",
                         "roc_auc": round(roc_auc_score(y, p), 4),
                         "accuracy": round(accuracy_score(y, p >= 0.5), 4),
                         "run_seconds": round(sum(r["seconds"] for r in mine), 1)})
    import torch

    where = (f"CUDA ({torch.cuda.get_device_name()}), bf16 (mixed_precision auto)" if args.device == "cuda"
             else "CPU")
    name = args.name or f"pneumonia_recipes_{args.device}"
    save_results(name, rows, f"{COMMAND} --recipes {' '.join(args.recipes)} --seeds "
                 f"{' '.join(map(str, args.seeds))} --device {args.device} --jobs {args.jobs} --threads {args.threads}",
                 notes=f"PneumoniaMNIST 28 px, official split (4708 / 524 / 624), the medical cnn head; {where}, "
                       f"{os.cpu_count()} CPU cores, {args.threads} torch thread(s) per run, {args.jobs} run(s) in parallel (run seconds include "
                       f"that sharing); whole benchmark {wall:.0f} s. Recipes (config overrides, fixed in "
                       f"benchmarks/pneumonia_recipes.py): "
                       + "; ".join(f"{k}: {json.dumps(RECIPES[k])}" for k in args.recipes)
                       + ". accuracy = MedMNIST's ACC (at 0.5); ensN = mean of the N seeds' test probabilities; val_* = the same on the validation split (what a choice of recipe may read).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
