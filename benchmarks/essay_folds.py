"""ASAP 5-fold QWK of one essay head configuration, each fold trained by ``verticalkit train``.

    VERTICALKIT_DATA=../shared/data python benchmarks/essay_folds.py --model features \
        --set model_params.char_ngram_max=5 --set model_params.alpha=auto --name essay_folds_features_char

Runs ``verticalkit train essay_scoring --dataset asap-aes --model MODEL --set data.fold=K
[--set ...] --out OUT/fK`` for each fold K (one process per fold: each fold's time includes
loading the data; ``--jobs N``: N folds at once, each run's output in OUT/fK.log), then reads each
run's ``metrics.json``: per fold the mean per-prompt QWK on
the test fold (``qwk``), the human rater1-vs-rater2 QWK on the same essays, the fit time
(``train_seconds``) and the command's wall time. The last row is the mean (and std) over folds.

Results: benchmarks/results/<name>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import save_results  # noqa: E402

COMMAND = "VERTICALKIT_DATA=../shared/data python benchmarks/essay_folds.py"


def train_command(model: str, fold: int, sets: list[str], out: Path) -> list[str]:
    exe = shutil.which("verticalkit", path=str(Path(sys.executable).parent)) or "verticalkit"
    cmd = [exe, "train", "essay_scoring", "--dataset", "asap-aes", "--model", model, "--set", f"data.fold={fold}"]
    for s in sets:
        cmd += ["--set", s]
    return cmd + ["--out", str(out / f"f{fold}"), "--overwrite"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="features")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra --set KEY=VALUE of every run")
    ap.add_argument("--folds", default="0,1,2,3,4")
    ap.add_argument("--out", default="runs/essay-folds", help="run directories (one per fold)")
    ap.add_argument("--name", default=None, help="results file name (default essay_folds_<model>)")
    ap.add_argument("--jobs", type=int, default=1, help="folds trained at once (one process each)")
    args = ap.parse_args(argv)
    folds = [int(f) for f in args.folds.split(",")]
    out = Path(args.out)
    rows = []
    runs = {}
    for start in range(0, len(folds), max(args.jobs, 1)):
        batch = {}
        for fold in folds[start:start + max(args.jobs, 1)]:
            log = out / f"f{fold}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            # each fold its own session: where the kernel shares CPU per session (autogroup), N folds in one
            # session would split one session's share
            batch[fold] = (subprocess.Popen(train_command(args.model, fold, args.sets, out), stdout=log.open("w"),
                                            stderr=subprocess.STDOUT, start_new_session=args.jobs > 1),
                           time.perf_counter(), log)
        while batch:  # poll: each fold's wall time ends when its own process does
            for fold, (proc, t, log) in list(batch.items()):
                if proc.poll() is not None:
                    runs[fold] = (proc.returncode, time.perf_counter() - t, log)
                    del batch[fold]
            time.sleep(1)
    for fold in folds:
        code, wall, log = runs[fold]
        if code != 0:
            print(log.read_text()[-4000:], file=sys.stderr)
            return code
        doc = json.loads((out / f"f{fold}" / "metrics.json").read_text())
        m = doc["metrics"]
        rows.append({"fold": fold, "n_test": doc["n"], "qwk": round(m["qwk"]["value"], 4),
                     "qwk_ci95": [round(v, 4) for v in m["qwk"]["ci95"]],
                     "human_qwk": round(m["human_qwk"]["value"], 4) if "human_qwk" in m else None,
                     "train_seconds": round(doc["train_seconds"], 1), "wall_seconds": round(wall, 1)})
        print(rows[-1], flush=True)
    q = np.array([r["qwk"] for r in rows])
    rows.append({"fold": "mean", "n_test": sum(r["n_test"] for r in rows), "qwk": round(float(q.mean()), 4),
                 "qwk_ci95": f"std {q.std():.4f}",
                 "human_qwk": round(float(np.mean([r["human_qwk"] for r in rows])), 4),
                 "train_seconds": round(float(np.mean([r["train_seconds"] for r in rows])), 1),
                 "wall_seconds": round(float(np.mean([r["wall_seconds"] for r in rows])), 1)})
    sets = "".join(f" --set {s}" for s in args.sets)
    notes = (f"model {args.model}{sets}; ASAP asap-aes, standard folds (folds.csv), seed 42 (validation split of "
             f"the training folds); qwk = mean over the 8 prompts of QWK on the prompt's own range; ci95 = the "
             f"run's bootstrap; one process per fold, {os.cpu_count()} CPU cores shared with other jobs "
             f"(load average {os.getloadavg()[0]:.1f} at the end), {args.jobs} fold(s) at a time"
             + (f"; VERTICALKIT_ESSAY_ROBUSTNESS_N={os.environ['VERTICALKIT_ESSAY_ROBUSTNESS_N']}"
                if "VERTICALKIT_ESSAY_ROBUSTNESS_N" in os.environ else ""))
    name = args.name or f"essay_folds_{args.model}"
    jobs = f" --jobs {args.jobs}" if args.jobs > 1 else ""
    save_results(name, rows, f"{COMMAND} --model {args.model}{sets}{jobs} --name {name}", notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
