"""Essay scoring end to end: ASAP → per-prompt QWK table (beside human agreement), report, robustness table.

    VERTICALKIT_DATA=../shared/data python examples/essay_scoring.py [--model features] [--fold 0] [--out runs/essay-demo]
    python examples/essay_scoring.py --score "Dear editor, computers ..." --prompt 1 [--out runs/essay-demo]
    python examples/essay_scoring.py --score-file essay.txt --prompt 1 [--out runs/essay-demo]

The first form trains on four ASAP folds and tests on ``--fold`` (ASAP from
$VERTICALKIT_DATA/asap-aes/; without it, the synthetic essays of the vertical's tiny
data), then prints QWK per prompt with the human rater1-vs-rater2 QWK, the report path
and the robustness table. The others score one essay (given as text, or a file in any
encoding: UTF-8, else Latin-1) with a trained run directory, printing one JSON line with its
score (one per trait for a traits model) and any review flags; an unknown prompt id is a
clear error (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from verticalkit.core.errors import DataError, VerticalkitError
from verticalkit.core.heads.predictor import Predictor, resolve_model_dir
from verticalkit.core.registry import get_vertical, register
from verticalkit.core.train.run import build_config, train


def vertical():
    try:
        return get_vertical("essay_scoring")
    except Exception:  # noqa: BLE001 - the entry point is not installed
        from verticalkit.verticals.essay_scoring import VERTICAL

        return register(VERTICAL)


def per_prompt_table(run_dir: Path) -> pd.DataFrame:
    """QWK per prompt (model, with CI) and the human agreement on the same test essays."""
    from verticalkit.verticals.essay_scoring.metrics import human_qwk_mean

    m = json.loads((run_dir / "metrics.json").read_text())
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    rows = []
    for r in m["subgroups"]["prompt"]:
        sub = preds[preds["prompt"].astype(str) == r["group"]]
        human = human_qwk_mean(None, None, sub) if "rater1" in sub else float("nan")
        rows.append({"prompt": r["group"], "n": r["n"], "qwk": round(r["qwk"], 3),
                     "ci95": [round(x, 3) for x in r["qwk_ci95"]], "human_qwk": round(human, 3)})
    mean = {"prompt": "mean", "n": m["n"], "qwk": round(m["metrics"]["qwk"]["value"], 3),
            "ci95": [round(x, 3) for x in m["metrics"]["qwk"]["ci95"]],
            "human_qwk": round(m["metrics"]["human_qwk"]["value"] or float("nan"), 3)}
    return pd.DataFrame([*rows, mean])


def train_demo(args: argparse.Namespace) -> int:
    vertical()
    from verticalkit.core.data.sources import resolve_source

    try:
        resolve_source("asap-aes", ("training_set_rel3.tsv",))
        dataset, sets = "asap-aes", [f"data.fold={args.fold}"]
    except DataError:
        print("ASAP not found ($VERTICALKIT_DATA/asap-aes/): a synthetic CSV stands in", flush=True)
        from verticalkit.verticals.essay_scoring.tiny import synthetic_essays

        X, y = synthetic_essays(400)
        csv = Path(args.out).with_suffix(".train.csv")
        csv.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"essay_id": range(len(y)), "full_text": X["text"], "score": y, "prompt": X["prompt"]}).to_csv(
            csv, index=False)
        dataset, sets = "essay-csv", [f"data.path={csv}", "data.prompt_column=prompt"]
    cfg = build_config("essay_scoring", dataset, args.model, args.out, sets=sets)
    print(f"training {args.model} on {dataset} -> {args.out}", flush=True)
    run_dir = Path(train(cfg, overwrite=True))
    print(per_prompt_table(run_dir).to_string(index=False))
    rob = run_dir / "robustness.csv"
    if rob.is_file():
        print("\nrobustness (score shift under perturbation):")
        print(pd.read_csv(rob).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nrun directory: {run_dir}\nreport: {run_dir / 'report.html'}")
    print(f"score one essay: python examples/essay_scoring.py --out {run_dir} --prompt 1 --score \"...\"")
    return 0


def score_one(args: argparse.Namespace) -> int:
    from verticalkit.verticals.essay_scoring.data import decode_text

    vertical()
    if args.score_file is not None:
        path = Path(args.score_file)
        if not path.is_file():
            raise DataError(f"{path}: no such file; give the essay as a text file")
        text = decode_text(path.read_bytes(), str(path))
    else:
        text = args.score
    predictor = Predictor.load(resolve_model_dir(args.out))
    prompt = int(args.prompt) if args.prompt.strip().isdigit() else args.prompt  # a number or a name
    X = pd.DataFrame({"text": [text], "prompt": [prompt]})
    scores = predictor.predict_score(X)
    if scores.ndim == 2:  # a traits model: one score per trait (null where the prompt has no such trait)
        score = {str(c): (None if pd.isna(v) else float(v)) for c, v in zip(predictor.task.classes, scores[0])}
    else:
        score = float(scores[0])
    flags = predictor.head.review_flags(X)[0] if hasattr(predictor.head, "review_flags") else ""
    print(json.dumps({"prompt": prompt, "score": score, "flag": flags}))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="features", help="features | encoder | finetune (a GPU job)")
    ap.add_argument("--fold", type=int, default=0, help="ASAP test fold 0-4")
    ap.add_argument("--out", default="runs/essay-demo")
    ap.add_argument("--score", metavar="TEXT", help="score this essay with the run in --out")
    ap.add_argument("--score-file", metavar="PATH", help="score the essay in this text file with the run in --out")
    ap.add_argument("--prompt", default="1", help="prompt id or name of the essay to score")
    args = ap.parse_args(argv)
    try:
        return score_one(args) if args.score is not None or args.score_file is not None else train_demo(args)
    except VerticalkitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
