"""Scoring speed and memory of a saved fraud Predictor.

    VERTICALKIT_DATA=../shared/data python benchmarks/fraud_scoring.py [--model gbdt] [--rows 1000000]

1. rows/s of ``Predictor.load(dir).predict_score`` on a 1M-row DataFrame against the raw
   scikit-learn model's ``predict_proba`` on the same rows as a float array, in one run
   (best of 3 each; goal: ratio >= 0.9);
2. peak RSS while ``verticalkit.core.serve.batch.predict_file`` scores a 1M-row and a 10M-row
   parquet file in 100k-row chunks, each in a fresh process (flat = the two peaks agree).

The model is trained on ULB (stratified, seed 42) when the file is found, else on
simulated transactions; the 1M / 10M rows are drawn from the training rows with
replacement plus small noise. Results: benchmarks/results/fraud_scoring.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_vertical, peak_rss_mb, save_results  # noqa: E402

COMMAND = "VERTICALKIT_DATA=../shared/data python benchmarks/fraud_scoring.py"


def vertical():
    return load_vertical("fraud")


def train_predictor(model: str, out: Path):
    from verticalkit.core.errors import DataError
    from verticalkit.core.heads.predictor import Predictor

    v = vertical()
    try:
        splits = v.dataset("ulb-creditcard")().load()
    except DataError:
        splits = v.dataset("simulated-transactions")().load()
    head = v.model(model)(**v.default_configs.get(model, {}).get("model_params", {}))
    head.fit(splits.train.X, splits.train.y, splits.val.X, splits.val.y)
    pred = Predictor(head, vertical="fraud", model=model, dataset=splits.dataset, task=splits.task)
    pred.save(out)
    return splits


def synth(X: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(X), n)
    arr = X.to_numpy(dtype=float)[idx]
    arr += rng.normal(0, 0.01, arr.shape) * arr.std(axis=0)
    return pd.DataFrame(arr, columns=X.columns)


def best_of(fn, k: int = 3) -> float:
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def peak_rss_child(model_dir: str, input_path: str, output_path: str) -> None:
    from verticalkit.core.serve.batch import predict_file
    from verticalkit.core.heads.predictor import Predictor

    vertical()
    pred = Predictor.load(model_dir)
    t0 = time.perf_counter()
    summary = predict_file(pred, input_path, output_path, chunk_rows=100_000, progress=False)
    secs = time.perf_counter() - t0
    print(json.dumps({"peak_rss_mb": peak_rss_mb(),
                      "seconds": secs, "rows": summary.get("rows", summary.get("n_rows"))}))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gbdt")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big-rows", type=int, default=10_000_000)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        peak_rss_child(*args.child)
        return 0
    from verticalkit.core.heads.predictor import Predictor

    rows = []
    with tempfile.TemporaryDirectory(prefix="fraud-scoring-") as tmp_s:
        tmp = Path(tmp_s)
        splits = train_predictor(args.model, tmp / "model")
        pred = Predictor.load(tmp / "model")
        X = synth(splits.train.X, args.rows, 0)
        raw = pred.head.model_
        X_raw = X.to_numpy(dtype=float)  # what the raw model is given (the Predictor gets the DataFrame)
        np.testing.assert_allclose(pred.predict_score(X), raw.predict_proba(X_raw)[:, 1])
        t_raw = best_of(lambda: raw.predict_proba(X_raw))
        t_pred = best_of(lambda: pred.predict_score(X))
        rows.append({"measure": f"rows/s, raw {type(raw).__name__}.predict_proba (ndarray)", "rows": args.rows,
                     "value": round(args.rows / t_raw), "unit": "rows/s"})
        rows.append({"measure": "rows/s, saved Predictor.predict_score (DataFrame, checks)", "rows": args.rows,
                     "value": round(args.rows / t_pred), "unit": "rows/s"})
        rows.append({"measure": "ratio Predictor / raw", "rows": args.rows, "value": round(t_raw / t_pred, 3),
                     "unit": "goal >= 0.9"})
        print(rows[-3:], flush=True)
        for n in (args.rows, args.big_rows):
            path = tmp / f"in-{n}.parquet"
            import pyarrow as pa
            import pyarrow.parquet as pq

            with pq.ParquetWriter(path, pa.Table.from_pandas(X.iloc[:1], preserve_index=False).schema) as w:
                for start in range(0, n, 1_000_000):
                    part = synth(splits.train.X, min(1_000_000, n - start), start)
                    w.write_table(pa.Table.from_pandas(part, preserve_index=False), row_group_size=100_000)
            out = subprocess.run([sys.executable, __file__, "--child", str(tmp / "model"), str(path),
                                  str(tmp / f"out-{n}.parquet")], capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"measure": f"peak RSS scoring a {n:,}-row parquet in 100k chunks", "rows": n,
                         "value": round(res["peak_rss_mb"]), "unit": f"MB ({res['seconds']:.0f} s)"})
            print(rows[-1], flush=True)
            path.unlink()
    command = COMMAND + (f" --model {args.model}" if args.model != "gbdt" else "") + \
        (f" --rows {args.rows}" if args.rows != 1_000_000 else "") + \
        (f" --big-rows {args.big_rows}" if args.big_rows != 10_000_000 else "")
    save_results(f"fraud_scoring_{args.model}", rows, command,
                 notes=f"model trained on {splits.dataset}; timing: best of 3; memory: fresh process per file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
