"""Fraud detection end to end: train, evaluate (bootstrap CIs), write the run directory and report.

    python examples/fraud_detection.py [--model gbdt] [--out runs/fraud-demo] [--simulated]

Uses the ULB credit-card file when it is found ($VERTICALKIT_DATA/ulb-creditcard/ or
~/.cache/verticalkit/ulb-creditcard/), otherwise the embedded simulated transactions
(handbook generator; no download). Prints the headline metrics and where the report is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from verticalkit.core.errors import DataError
from verticalkit.core.registry import get_vertical, register
from verticalkit.core.train.run import build_config, train


def vertical():
    try:
        return get_vertical("fraud")
    except Exception:  # noqa: BLE001 - the entry point is not installed (editable checkout without it)
        from verticalkit.verticals.fraud import VERTICAL

        return register(VERTICAL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gbdt", help="logreg | gbdt | forest | blend | scorecard | mlp | ft_transformer")
    ap.add_argument("--out", default="runs/fraud-demo")
    ap.add_argument("--simulated", action="store_true", help="use the simulated transactions even if ULB is found")
    args = ap.parse_args(argv)
    v = vertical()
    dataset = "simulated-transactions"
    if not args.simulated:
        try:
            v.dataset("ulb-creditcard")().load  # noqa: B018 - the adapter exists
            from verticalkit.core.data.sources import resolve_source

            resolve_source("ulb-creditcard", v.dataset("ulb-creditcard").files)
            dataset = "ulb-creditcard"
        except DataError:
            print("ULB credit-card file not found: using the embedded simulated transactions")
    cfg = build_config("fraud", dataset, args.model, args.out)
    print(f"training {args.model} on {dataset} -> {args.out}", flush=True)
    run_dir = train(cfg, overwrite=True)
    m = json.loads((Path(run_dir) / "metrics.json").read_text())
    for name in ("auprc", "roc_auc", "precision_at_1pct", "recall_at_1pct", "cp_at_100", "ks", "brier"):
        entry = m["metrics"].get(name)
        if entry and entry["value"] is not None:
            lo, hi = entry["ci95"]
            print(f"  {name:18s} {entry['value']:.4f}  [{lo:.4f}, {hi:.4f}]")
    print(f"run directory: {run_dir}")
    print(f"report: {Path(run_dir) / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
