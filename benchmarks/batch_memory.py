"""Peak memory of batch scoring (core/serve/batch.py) against input size: flat means streaming works.

For each size, a CSV of ``n`` rows (2 float columns, the toy model's schema) is written to a
temporary folder, then scored by ``predict_file`` in a fresh subprocess (100k-row chunks,
CSV output); the subprocess reports its peak RSS (``VmHWM``, see ``_common.peak_rss_mb``) and the wall time.

    python benchmarks/batch_memory.py --rows 1000000 10000000
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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

CHILD = """
import json, sys, time
sys.path.insert(0, {tests!r})
sys.path.insert(0, {bench!r})
from _common import peak_rss_mb
from toy_vertical import LogReg, toy_vertical
from verticalkit.core.serve.batch import predict_file
from verticalkit.core.heads.predictor import Predictor
from verticalkit.core.registry import register
from verticalkit.core.train.run import input_schema
v = register(toy_vertical()); s = v.tiny_data(0)
p = Predictor(LogReg().fit(s.train.X, s.train.y), vertical="toy", model="logreg", dataset="toy", task=s.task,
              input_schema=input_schema(s.train.X))
base = peak_rss_mb()
t0 = time.perf_counter()
out = predict_file(p, {inp!r}, {outp!r}, chunk_rows={chunk}, progress=False)
print(json.dumps({{"rows_scored": out["rows"], "seconds": time.perf_counter() - t0, "rss_before_mb": base,
                  "peak_rss_mb": peak_rss_mb()}}))
"""


def write_csv(path: Path, n: int, block: int = 1_000_000) -> None:
    rng = np.random.default_rng(0)
    for i, start in enumerate(range(0, n, block)):
        m = min(block, n - start)
        pd.DataFrame({"a": rng.normal(size=m).round(6), "b": rng.normal(size=m).round(6)}).to_csv(
            path, mode="w" if i == 0 else "a", header=i == 0, index=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--chunk-rows", type=int, default=100_000)
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            inp, outp = Path(tmp) / f"in_{n}.csv", Path(tmp) / f"out_{n}.csv"
            t0 = time.perf_counter()
            write_csv(inp, n)
            gen = time.perf_counter() - t0
            code = CHILD.format(tests=str(ROOT / "tests"), bench=str(Path(__file__).parent), inp=str(inp),
                                outp=str(outp), chunk=args.chunk_rows)
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
            if res.returncode != 0:
                raise SystemExit(res.stderr[-3000:])
            r = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append({"rows": n, "input_mb": round(inp.stat().st_size / 2**20, 1),
                         "rows_scored": r["rows_scored"], "chunk_rows": args.chunk_rows,
                         "rss_before_mb": round(r["rss_before_mb"], 1), "peak_rss_mb": round(r["peak_rss_mb"], 1),
                         "seconds": round(r["seconds"], 1), "gen_seconds": round(gen, 1)})
            inp.unlink()
            outp.unlink()
            print(rows[-1], flush=True)
    command = "python benchmarks/batch_memory.py --rows " + " ".join(map(str, args.rows))
    if not args.no_save:
        from _common import save_results

        save_results("batch_memory", rows, command, notes="toy logistic-regression model (2 float columns), CSV in "
                     "and out, 1 process, OMP_NUM_THREADS=1; peak RSS of the scoring subprocess")


if __name__ == "__main__":
    main()
