"""Own tables at the issue's scale: load time / memory of the csv adapter, and AUPRC of the
kit's heads against a plain scikit-learn baseline on the same temporal split.

    python benchmarks/wild_tables.py [--rows 500000] [--models baseline,gbdt,lightgbm]

The table (``tests/wild.py: wide_frame``, seed 0): an id, time in seconds, 5 text columns
(one with ~1,500 values), money strings, T/F flags, a ``28-Feb-97`` date, a constant and
numeric columns 0-90% empty; ~3.5% positives; written as CSV. Each measurement runs in a
fresh process and reports its wall time and peak RSS (VmHWM):

* ``load``: ``TabularCSV.load`` (read, infer, parse, split; temporal 80/20, validation the
  latest 10% of the training period); memory against the table as read (``read_any_table``)
  and the feature frames;
* ``baseline``: HistGradientBoostingClassifier (defaults, early stopping off, 200 iterations),
  NaN left in, text columns as pandas categories with their top 250 values + "other", on the
  adapter's features and split;
* each kit head (``verticalkit train fraud --dataset csv --model M``, its defaults: fit,
  save, evaluation with its baselines, report).

Each row's note gives its peak RSS over the table as read (the memory goal: at most 3×), in all
and over the process's RSS after its imports, and for a kit head its fit and wall time against
the plain HGB's (the time goal: at most 1.5×).

Results: benchmarks/results/wild_tables.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _common import load_vertical, peak_rss_mb, save_results  # noqa: E402

COMMAND = "python benchmarks/wild_tables.py"
DATA = dict(target="isFraud", time_column="TransactionDT", protocol="temporal")


def write_table(path: Path, rows: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.csv as pc
    from wild import wide_frame

    pc.write_csv(pa.Table.from_pandas(wide_frame(rows, seed=seed), preserve_index=False), path)


def child_load(path: str) -> dict:
    """Load through the adapter; sizes of the table as read and of the features."""
    load_vertical("fraud")
    from verticalkit.core.data.tabular import read_any_table
    from verticalkit.verticals.fraud.data import TabularCSV

    base = peak_rss_mb()
    t0 = time.perf_counter()
    splits = TabularCSV(path=path, verbose=False, **DATA).load()
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    feats = sum(s.X.memory_usage(deep=True).sum() for s in (splits.train, splits.val, splits.test)) / 2**20
    df = read_any_table(path, progress=False)
    raw = df.memory_usage(deep=True).sum() / 2**20
    return {"seconds": seconds, "peak_rss_mb": peak, "rss_after_imports_mb": base, "table_mb": raw,
            "features_mb": feats, "n_features": splits.train.X.shape[1]}


def child_baseline(path: str) -> dict:
    """Plain HGB on the adapter's features and split: NaN in, categories top 250 + other."""
    load_vertical("fraud")
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import average_precision_score

    from verticalkit.verticals.fraud.data import TabularCSV

    base = peak_rss_mb()
    t0 = time.perf_counter()
    s = TabularCSV(path=path, verbose=False, **DATA).load()
    Xtr, Xte = pd.concat([s.train.X, s.val.X], ignore_index=True), s.test.X
    ytr = np.concatenate([s.train.y, s.val.y])
    for c in Xtr.columns:
        if isinstance(Xtr[c].dtype, pd.CategoricalDtype):
            top = Xtr[c].value_counts().index[:250].astype(str).tolist()
            cats = pd.CategoricalDtype([*top, "other"])
            Xtr[c] = Xtr[c].astype("string").where(Xtr[c].isin(top) | Xtr[c].isna(), "other").astype(cats)
            Xte[c] = Xte[c].astype("string").where(Xte[c].isin(top) | Xte[c].isna(), "other").astype(cats)
    t1 = time.perf_counter()
    hgb = HistGradientBoostingClassifier(max_iter=200, early_stopping=False, categorical_features="from_dtype",
                                         random_state=0).fit(Xtr, ytr)
    fit = time.perf_counter() - t1
    auprc = float(average_precision_score(s.test.y, hgb.predict_proba(Xte)[:, 1]))
    return {"seconds": time.perf_counter() - t0, "fit_seconds": fit, "peak_rss_mb": peak_rss_mb(), "auprc": auprc,
            "rss_after_imports_mb": base}


def child_kit(path: str, model: str, out: str) -> dict:
    load_vertical("fraud")
    from verticalkit.core.train.run import build_config, train

    sets = [f"data.path={path}", *(f"data.{k}={v}" for k, v in DATA.items()), "data.verbose=false"]
    base = peak_rss_mb()
    t0 = time.perf_counter()
    run = train(build_config("fraud", "csv", model, out, None, sets))
    metrics = json.loads((run / "metrics.json").read_text())
    return {"seconds": time.perf_counter() - t0, "fit_seconds": metrics.get("train_seconds"),
            "peak_rss_mb": peak_rss_mb(), "auprc": metrics["metrics"]["auprc"]["value"], "rss_after_imports_mb": base}


def run_child(*args: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:200], "wall_s": time.perf_counter() - t0}
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t0
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="baseline,gbdt,lightgbm")
    ap.add_argument("--name", help="results file name (default wild_tables, or wild_tables_<rows> below 500k rows)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = {"load": child_load, "baseline": child_baseline, "kit": child_kit}[kind]
        print(json.dumps(fn(*rest)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wild.csv"
        t0 = time.perf_counter()
        write_table(path, args.rows, args.seed)
        print(f"wrote {path.stat().st_size / 2**20:,.0f} MB in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        load = run_child("load", str(path))
        if "error" in load:
            raise SystemExit(f"load failed: {load['error']}")
        rows.append({"step": "load (csv adapter)", "rows": args.rows, "wall_s": round(load["wall_s"], 1),
                     "peak_rss_mb": round(load["peak_rss_mb"]), "auprc": "",
                     "note": f"load {load['seconds']:.1f} s; file {path.stat().st_size / 2**20:,.0f} MB; table as "
                             f"read {load['table_mb']:,.0f} MB; features {load['features_mb']:,.0f} MB "
                             f"({load['n_features']} columns); RSS after imports {load['rss_after_imports_mb']:,.0f} MB;"
                             f" (peak − after imports) / table as read "
                             f"{(load['peak_rss_mb'] - load['rss_after_imports_mb']) / load['table_mb']:.2f}×"})
        plain = None
        for model in [m for m in args.models.split(",") if m]:
            res = (run_child("baseline", str(path)) if model == "baseline"
                   else run_child("kit", str(path), model, str(Path(tmp) / f"run-{model}")))
            name = "sklearn HGB (top 250 + other)" if model == "baseline" else f"kit {model}"
            if "error" in res:
                rows.append({"step": name, "rows": args.rows, "wall_s": round(res["wall_s"], 1), "peak_rss_mb": "",
                             "auprc": "", "note": f"failed: {res['error']}"})
                continue
            plain = res if model == "baseline" else plain
            vs_plain = (f"; fit {res['fit_seconds'] / plain['fit_seconds']:.2f}×, wall "
                        f"{res['wall_s'] / plain['wall_s']:.2f}× the plain HGB's"
                        if plain is not None and model != "baseline" and res.get("fit_seconds") else "")
            rows.append({"step": name, "rows": args.rows, "wall_s": round(res["wall_s"], 1),
                         "peak_rss_mb": round(res["peak_rss_mb"]), "auprc": round(res["auprc"], 4),
                         "note": (f"fit {res['fit_seconds']:.1f} s; " if res.get("fit_seconds") else "")
                                 + f"peak {res['peak_rss_mb'] / load['table_mb']:.2f}× the table as read, "
                                 f"{(res['peak_rss_mb'] - res['rss_after_imports_mb']) / load['table_mb']:.2f}× "
                                 f"over the RSS after imports ({res['rss_after_imports_mb']:,.0f} MB)" + vs_plain})
    cmd = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '2')} {COMMAND} --rows {args.rows} --models '{args.models}'"
    name = args.name or ("wild_tables" if args.rows >= 500_000 else f"wild_tables_{args.rows}")
    save_results(name, rows, cmd,
                 notes=f"Table: tests/wild.py wide_frame(rows, seed={args.seed}), 121 columns; temporal 80/20 by "
                       f"TransactionDT (validation: the latest 10% of the training period), AUPRC on the test 20%. "
                       f"Wall time and peak RSS (VmHWM) of each step's own process.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
