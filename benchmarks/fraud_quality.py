"""Measure the fraud vertical's reference results through the `verticalkit train` pipeline.

    VERTICALKIT_DATA=../shared/data python benchmarks/fraud_quality.py [--only ulb|simulated|german] [--write]

Each group trains every listed model (per seed and fold) with ``verticalkit.core.run.train``,
reads ``metrics.json`` and reports the mean over folds (± std) with the 95% CI of the
pooled test predictions (paired bootstrap, core evaluator). ``--write`` rewrites
``verticals/fraud/reference_results.yaml`` from the figures measured in this run.
Results: ``benchmarks/results/fraud_quality.{json,md}``.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _common import save_results  # noqa: E402

from verticalkit.core.config import EvalConfig, merge_into  # noqa: E402
from verticalkit.core.data import Task  # noqa: E402
from verticalkit.core.evaluator import evaluate  # noqa: E402
from verticalkit.core.registry import get_vertical, register  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "VERTICALKIT_DATA=../shared/data python benchmarks/fraud_quality.py --write"

ULB_ANCHORS = [
    {"name": "logistic regression (measured by the issue author)", "value": 0.741},
    {"name": "HistGradientBoosting, scikit-learn defaults (measured by the issue author)", "value": 0.561},
    {"name": "HistGradientBoosting 300 it, lr 0.05, no early stopping (measured by the issue author)", "value": 0.862},
    {"name": "random forest 200 trees (measured by the issue author)", "value": 0.868},
    {"name": "XGBoost + SMOTE (community)", "value": 0.845},
]
SIM_ANCHORS = {  # handbook, on its own simulated data (not these transactions)
    "roc_auc": [{"name": "handbook logistic regression", "value": 0.871}, {"name": "handbook tuned XGBoost", "value": 0.872}],
    "auprc": [{"name": "handbook logistic regression", "value": 0.606}, {"name": "handbook tuned XGBoost", "value": 0.687}],
    "cp_at_100": [{"name": "handbook logistic regression", "value": 0.291}, {"name": "handbook tuned XGBoost", "value": 0.303}],
}
GERMAN_ANCHORS = [{"name": "logistic regression (literature, range 0.77-0.80)", "value": 0.785}]

GROUPS = {
    "ulb": [
        dict(dataset="ulb-creditcard", protocol="stratified-80-20-seed42", config={"data": {"protocol": "stratified"}},
             models=["gbdt", "logreg", "mlp"], metrics=["auprc", "roc_auc"], folds=None, anchors={"auprc": ULB_ANCHORS},
             tolerance=0.01),
        dict(dataset="ulb-creditcard", protocol="temporal-80-20", config={"data": {"protocol": "temporal"}},
             models=["gbdt", "logreg", "mlp"], metrics=["auprc", "roc_auc"], folds=None,
             anchors={"auprc": [{"name": "tuned HistGradientBoosting (measured by the issue author)", "value": 0.803}]},
             tolerance=0.01),
    ],
    "simulated": [
        dict(dataset="simulated-transactions", protocol="handbook-7d-train-7d-delay-7d-test-prequential-4-folds",
             config={}, models=["logreg", "gbdt", "scorecard", "mlp", "ft_transformer"],
             metrics=["roc_auc", "auprc", "cp_at_100"], folds={"param": "fold", "values": [0, 1, 2, 3]},
             anchors=SIM_ANCHORS, tolerance=0.02),
    ],
    "german": [
        dict(dataset="german-credit", protocol="stratified-10-fold-seed42", config={},
             models=["scorecard", "logreg", "gbdt", "mlp", "ft_transformer"], metrics=["roc_auc", "expected_cost"],
             folds={"param": "fold", "values": list(range(10))}, anchors={"roc_auc": GERMAN_ANCHORS}, tolerance=0.01),
    ],
}


def ensure_registered() -> None:
    try:
        get_vertical("fraud")
    except Exception:  # noqa: BLE001 - entry point not installed yet
        from verticalkit.verticals.fraud import VERTICAL

        register(VERTICAL)


def run_group(group: dict, model: str, seed: int, out: Path) -> dict:
    from verticalkit.core.run import build_config, train

    vertical = get_vertical("fraud")
    folds = group["folds"]
    per_run, preds, seconds = [], [], 0.0
    for fold in (folds["values"] if folds else [None]):
        name = f"{group['dataset']}-{model}-s{seed}" + (f"-f{fold}" if fold is not None else "")
        cfg = build_config("fraud", group["dataset"], model, str(out / name))
        overrides = copy.deepcopy(group["config"])
        overrides["seed"] = seed
        if fold is not None:
            overrides.setdefault("data", {})[folds["param"]] = fold
        merge_into(cfg, overrides, "")
        t0 = time.perf_counter()
        run_dir = train(cfg, overwrite=True)
        seconds += time.perf_counter() - t0
        m = json.loads((run_dir / "metrics.json").read_text())
        per_run.append({k: m["metrics"][k] for k in group["metrics"]})
        p = pd.read_parquet(run_dir / "predictions.parquet")
        p["fold"] = fold
        preds.append(p)
    pooled = pd.concat(preds, ignore_index=True)
    result = {"values": {k: [r[k]["value"] for r in per_run] for k in group["metrics"]}, "seconds": round(seconds, 1)}
    if len(per_run) == 1:
        result["ci95"] = {k: per_run[0][k]["ci95"] for k in group["metrics"]}
    else:  # CI of the pooled out-of-fold / all-fold test predictions
        meta = pooled[[c for c in ("customer_id", "day") if c in pooled]].copy()
        if "day" in meta:  # folds are different weeks: keep their days apart for card precision
            meta["day"] = meta["day"].astype(str) + "-" + pooled["fold"].astype(str)
        t = Task(kind="binary", target="y", primary_metric=group["metrics"][0], classes=["0", "1"])
        ev = evaluate(t, pooled["target"].to_numpy(), pooled["score"].to_numpy(), meta=meta if meta.shape[1] else None,
                      extra_metrics=vertical.metrics, config=EvalConfig(n_bootstrap=1000), seed=seed)
        result["ci95"] = {k: ev.metrics[k]["ci95"] for k in group["metrics"]}
        result["pooled"] = {k: ev.metrics[k]["value"] for k in group["metrics"]}
    return result


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:  # noqa: ANN001
        return True


def _no_aliases(entries: list) -> str:
    return yaml.dump(entries, Dumper=_NoAliasDumper, sort_keys=False, width=120)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=list(GROUPS), action="append")
    ap.add_argument("--models", nargs="*", help="restrict to these models")
    ap.add_argument("--write", action="store_true", help="rewrite verticals/fraud/reference_results.yaml")
    args = ap.parse_args()
    ensure_registered()
    rows, entries = [], []
    with tempfile.TemporaryDirectory(prefix="fraud-quality-") as tmp:
        for gname in args.only or list(GROUPS):
            for group in GROUPS[gname]:
                for model in group["models"]:
                    if args.models and model not in args.models:
                        continue
                    r = run_group(group, model, 42, Path(tmp))
                    for metric in group["metrics"]:
                        vals = r["values"][metric]
                        mean, std = float(np.mean(vals)), float(np.std(vals))
                        ci = [round(float(v), 4) for v in r["ci95"][metric]]
                        rows.append({"dataset": group["dataset"], "protocol": group["protocol"], "model": model,
                                     "metric": metric, "value": round(mean, 4), "std": round(std, 4),
                                     "n_runs": len(vals), "ci95": str(ci), "seconds": r["seconds"]})
                        print(f"{group['dataset']:24s} {group['protocol']:45s} {model:15s} {metric:14s} "
                              f"{mean:.4f} ± {std:.4f} CI {ci} ({r['seconds']:.0f}s)", flush=True)
                        entry = {"dataset": group["dataset"], "protocol": group["protocol"], "model": model,
                                 "metric": metric, "value": round(mean, 4), "ci95": ci, "seeds": [42],
                                 "tolerance": group["tolerance"] if metric != "expected_cost" else 0.02,
                                 "anchors": copy.deepcopy(group["anchors"].get(metric, [])),
                                 "command": f"verticalkit reproduce fraud --dataset {group['dataset']} --model {model}",
                                 "measured_by": COMMAND, "hardware": f"{platform.machine()} CPU, 2 cores",
                                 "measured": date.today().isoformat()}
                        if len(vals) > 1:
                            entry["std"] = round(std, 4)
                            entry["folds"] = copy.deepcopy(group["folds"])
                            entry["pooled_value"] = round(float(r["pooled"][metric]), 4)
                            entry["ci95_note"] = ("percentile bootstrap of the pooled test predictions of all folds "
                                                  "(around pooled_value; value is the mean over folds)")
                        if group["config"]:
                            entry["config"] = copy.deepcopy(group["config"])
                        if metric == "expected_cost":
                            entry["note"] = ("mean cost per applicant at the cost-optimal threshold "
                                             "(bad predicted good 5, good predicted bad 1); lower is better")
                        entries.append(entry)
    save_results("fraud_quality" + ("_" + "_".join(args.only) if args.only else ""), rows, COMMAND,
                 notes="mean over folds ± std; CI: bootstrap of the pooled test predictions (single run: its CI)")
    if args.write:
        path = ROOT / "verticals" / "fraud" / "reference_results.yaml"
        old = (yaml.safe_load(path.read_text()) or []) if path.is_file() else []
        keep = [e for e in old if not any(e["dataset"] == n["dataset"] and e["protocol"] == n["protocol"]
                                          and e["model"] == n["model"] and e["metric"] == n["metric"]
                                          for n in entries)]
        path.write_text(_no_aliases(keep + entries))
        print(f"wrote {len(entries)} entries to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
