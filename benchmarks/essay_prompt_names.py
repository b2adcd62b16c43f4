"""ASAP with prompt NAMES in place of numbers: the essay-csv adapter, the heads and QWK must not care.

    VERTICALKIT_DATA=../shared/data python benchmarks/essay_prompt_names.py [--model features] [--fold 0]

Writes two essay CSVs from ASAP (``training_set_rel3.tsv`` + ``folds.csv``): one with ``essay_set``
1..8 as the prompt, one with names ("Computers and society", ...), both with a ``split`` column
holding the train / val / test split of ``verticalkit train essay_scoring --dataset asap-aes
--set data.fold=F`` (so all runs score the same essays). The names file is written as UTF-8
with a byte-order mark, CRLF line ends and ``;`` separators (detected by the adapter). Trains
``--model`` with ``verticalkit train`` on the asap-aes adapter, on the numbers CSV and on the names
CSV, and reports test QWK (mean over prompts) of each, with its bootstrap CI, and the largest
difference of per-prompt QWK between the numbers and names runs.

Results: benchmarks/results/essay_prompt_names.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_vertical, save_results  # noqa: E402

COMMAND = "VERTICALKIT_DATA=../shared/data python benchmarks/essay_prompt_names.py"
NAMES = {1: "Computers and society", 2: "Censorship in libraries", 3: "Rough Road Ahead: cyclist",
         4: "Winter Hibiscus ending", 5: "Narciso Rodriguez memoir mood", 6: "Empire State Building dirigibles",
         7: "Patience — a story", 8: "Laughter «true story»"}


def write_csvs(folder: Path, fold: int) -> tuple[Path, Path]:
    """The numbers and names CSVs with the asap-aes adapter's split of ``fold``."""
    from verticalkit.core.data.sources import resolve_source
    from verticalkit.verticals.essay_scoring.data import ASAP, read_asap

    splits = ASAP(fold=fold).load()
    part = {int(i): name for name, s in (("train", splits.train), ("val", splits.val), ("test", splits.test))
            for i in s.ids}
    df = read_asap(resolve_source(ASAP.id, ASAP.files, None))
    table = pd.DataFrame({"essay_id": df["essay_id"].astype(int), "prompt": df["essay_set"].astype(int),
                          "full_text": df["essay"], "score": df["domain1_score"],
                          "split": df["essay_id"].astype(int).map(part)})
    numbers, names = folder / "asap_numbers.csv", folder / "asap_names.csv"
    table.to_csv(numbers, index=False)
    named = table.assign(prompt=table["prompt"].map(NAMES))
    named.to_csv(names, index=False, sep=";", encoding="utf-8-sig", lineterminator="\r\n")
    return numbers, names


def train(args: list[str], out: Path) -> dict:
    from verticalkit.core.tools.cli import main

    t0 = time.perf_counter()
    code = main(["train", "essay_scoring", "--out", str(out), "--set", "eval.report=false", *args])
    if code != 0:
        raise SystemExit(f"training {args} failed with exit code {code}")
    m = json.loads((out / "metrics.json").read_text())
    preds = pd.read_parquet(out / "predictions.parquet")
    return {"qwk": m["metrics"]["qwk"]["value"], "ci95": m["metrics"]["qwk"]["ci95"], "n_test": m["n"],
            "seconds": round(time.perf_counter() - t0, 1), "preds": preds}


def per_prompt(preds: pd.DataFrame) -> dict:
    from verticalkit.verticals.essay_scoring.metrics import qwk_per_prompt

    return qwk_per_prompt(preds["target"], preds["prediction"], preds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="features")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    load_vertical("essay_scoring")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        numbers, names = write_csvs(tmp, args.fold)
        common = ["--model", args.model]
        csv = ["--dataset", "essay-csv", "--set", "data.prompt_column=prompt", "--set", "data.split_column=split"]
        runs = {"asap-aes adapter (numbers)": train([*common, "--dataset", "asap-aes", "--set",
                                                     f"data.fold={args.fold}"], tmp / "asap"),
                "essay-csv, numbers": train([*common, *csv, "--set", f"data.path={numbers}"], tmp / "numbers"),
                "essay-csv, names (BOM, CRLF, ;)": train([*common, *csv, "--set", f"data.path={names}"],
                                                           tmp / "names")}
    by_number = per_prompt(runs["essay-csv, numbers"]["preds"])
    by_name = per_prompt(runs["essay-csv, names (BOM, CRLF, ;)"]["preds"])
    gap = max(abs(by_number[p] - by_name[NAMES[p]]) for p in by_number)
    rows = [{"run": k, "model": args.model, "fold": args.fold, "n_test": r["n_test"], "qwk": round(r["qwk"], 4),
             "ci95": [round(v, 4) for v in r["ci95"]], "seconds": r["seconds"]} for k, r in runs.items()]
    notes = (f"ASAP training_set_rel3.tsv, test fold {args.fold} of folds.csv (val: the asap-aes adapter's seeded "
             f"10% of the other folds, seed 42; the same essays in every run via data.split_column); qwk = mean "
             f"over the 8 prompts of QWK on each prompt's scale, bootstrap 95% CI; largest per-prompt |QWK "
             f"numbers - QWK names| = {gap:.2e}. x86_64 CPU, 2 shared cores.")
    print(notes)
    if not args.no_save:
        save_results("essay_prompt_names", rows, COMMAND + (f" --model {args.model}" if args.model != "features"
                                                            else ""), notes)
    else:
        print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
