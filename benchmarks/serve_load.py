"""Load and abuse test of `verticalkit serve` on loopback.

1. Load: 32 concurrent clients (asyncio + httpx, keep-alive) send a fixed number of
   ``POST /v1/predict`` requests of one record each → throughput, p50 / p99 latency, errors.
2. Abuse: 1,000 malformed requests (bad JSON, wrong types, missing / extra fields, empty
   list, oversized body, wrong / missing token, wrong content type, bad v2 tensors) with
   auth on → every one must be a 4xx, and the server must still answer health and a
   valid request afterwards.

The server runs in a subprocess (uvicorn, one worker, 127.0.0.1 only), so client and
server do not share a GIL.

    python benchmarks/serve_load.py                      # the toy logistic-regression model
    python benchmarks/serve_load.py --model RUN_DIR      # a trained run (e.g. fraud gbdt)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

TOKEN = "load-test-token"
MAX_BODY = 100_000


# -- request generators (also used by tests/test_serve.py) -------------------------------------------
def malformed_requests(n: int, record: dict[str, Any], model_name: str, token: str | None = TOKEN,
                       max_body: int = MAX_BODY) -> list[tuple[str, str, dict[str, str], bytes]]:
    """``n`` bad requests ``(method, path, headers, body)``, cycling through the kinds of abuse."""
    auth = {"authorization": f"Bearer {token}"} if token else {}
    js = {"content-type": "application/json", **auth}
    field = next(iter(record))
    kinds: list[tuple[str, str, dict[str, str], bytes]] = [
        ("POST", "/v1/predict", js, b'{"records": [{'),                                     # bad JSON
        ("POST", "/v1/predict", js, b"\xff\xfe not utf-8"),                                # undecodable
        ("POST", "/v1/predict", js, json.dumps({"records": [{**record, field: "NaN-ish"}]}).encode()),  # wrong type
        ("POST", "/v1/predict", js, json.dumps({"records": [{**record, field: [1, 2]}]}).encode()),     # list
        ("POST", "/v1/predict", js, json.dumps({"records": [{k: v for k, v in record.items() if k != field}]}
                                               ).encode()),                                 # missing field
        ("POST", "/v1/predict", js, json.dumps({"records": [{**record, "surprise": 1}]}).encode()),     # extra
        ("POST", "/v1/predict", js, json.dumps({"records": []}).encode()),                  # empty list
        ("POST", "/v1/predict", js, json.dumps([record]).encode()),                         # wrong envelope
        ("POST", "/v1/predict", js, b'{"records": [' + b'{"x": 1},' * (max_body // 8) + b"{}]}"),  # oversized
        ("POST", "/v1/predict", {"content-type": "text/plain", **auth}, b"hello"),          # content type
        ("POST", f"/v2/models/{model_name}/infer", js,
         json.dumps({"inputs": [{"name": field, "shape": [3], "datatype": "FP64", "data": [1.0]}]}).encode()),
        ("POST", f"/v2/models/{model_name}/infer", js, json.dumps({"inputs": "nope"}).encode()),
        ("POST", "/v2/models/no-such-model/infer", js,
         json.dumps({"inputs": [{"name": field, "shape": [1], "datatype": "FP64", "data": [1.0]}]}).encode()),
    ]
    if token:
        body = json.dumps({"records": [record]}).encode()
        kinds += [("POST", "/v1/predict", {"content-type": "application/json"}, body),             # no token
                  ("POST", "/v1/predict", {"content-type": "application/json",
                                           "authorization": "Bearer wrong"}, body),                  # wrong
                  ("POST", "/v1/predict", {"content-type": "application/json",
                                           "authorization": token}, body),                            # no scheme
                  ("GET", f"/v2/models/{model_name}", {}, b"")]                                       # metadata
    return [kinds[i % len(kinds)] for i in range(n)]


def valid_request(record: dict[str, Any], token: str | None = TOKEN) -> tuple[str, str, dict[str, str], bytes]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return "POST", "/v1/predict", headers, json.dumps({"records": [record]}).encode()


# -- server ------------------------------------------------------------------------------------------
def _toy_model_dir() -> Path:
    """A toy model (tests/toy_vertical.py) trained and saved to a temporary folder."""
    sys.path.insert(0, str(ROOT / "tests"))
    from toy_vertical import LogReg, toy_vertical

    from verticalkit.core.predictor import Predictor
    from verticalkit.core.registry import register
    from verticalkit.core.run import input_schema

    v = register(toy_vertical())
    s = v.tiny_data(0)
    out = Path(tempfile.mkdtemp(prefix="serve_load_")) / "model"
    Predictor(LogReg().fit(s.train.X, s.train.y), vertical="toy", model="logreg", dataset="toy", task=s.task,
              input_schema=input_schema(s.train.X)).save(out)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _register(module: str | None) -> None:
    """Register ``module.VERTICAL`` in this process (a vertical not yet installed as an entry point)."""
    if module:
        import importlib

        from verticalkit.core.registry import register

        register(importlib.import_module(module).VERTICAL)


def start_server(model: Path, port: int, toy: bool, token: str | None, register: str | None = None,
                 backend: str = "predictor") -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("VERTICALKIT_TOKEN", None)
    if token:
        env["VERTICALKIT_TOKEN"] = token
    cmd = [sys.executable, __file__, "--server", "--model", str(model), "--port", str(port)]
    cmd += ["--toy"] if toy else []
    cmd += (["--register", register] if register else []) + ["--backend", backend]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become ready in 30 s")


def _run_server(model: str, port: int, toy: bool, register: str | None, backend: str) -> None:
    _register(register)
    if toy:
        sys.path.insert(0, str(ROOT / "tests"))
        from toy_vertical import toy_vertical

        from verticalkit.core.registry import register

        register(toy_vertical())
    from verticalkit.core.serve import serve

    serve(model, port=port, max_body_bytes=MAX_BODY, log_level="warning", backend=backend)


# -- clients -----------------------------------------------------------------------------------------
async def _load(base: str, req: tuple, n_requests: int, clients: int) -> dict[str, Any]:
    import httpx

    method, path, headers, body = req
    latencies: list[float] = []
    errors = 0
    remaining = n_requests

    async def client() -> None:
        nonlocal remaining, errors
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                r = await c.request(method, path, headers=headers, content=body)
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200

    t0 = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(clients)])
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    return {"requests": len(lat), "clients": clients, "errors": errors, "seconds": round(wall, 3),
            "throughput_rps": round(len(lat) / wall, 1),
            "p50_ms": round(1e3 * lat[len(lat) // 2], 2), "p99_ms": round(1e3 * lat[int(0.99 * (len(lat) - 1))], 2),
            "mean_ms": round(1e3 * statistics.fmean(lat), 2)}


async def _abuse(base: str, reqs: list[tuple]) -> dict[str, Any]:
    import httpx

    codes: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        for method, path, headers, body in reqs:
            r = await c.request(method, path, headers=headers, content=body or None)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
    return codes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="run or model folder (default: a toy model trained here)")
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--malformed", type=int, default=1000)
    p.add_argument("--record", help="JSON of one input record (default: the vertical's serve_example or zeros)")
    p.add_argument("--port", type=int)
    p.add_argument("--backend", default="predictor", choices=["predictor", "onnx"],
                   help="onnx: the server scores with onnxruntime on MODEL/../export/onnx")
    p.add_argument("--register", help="import MODULE and register its VERTICAL (a vertical not yet installed)")
    p.add_argument("--server", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--toy", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-save", action="store_true", help="print only")
    args = p.parse_args()
    if args.server:
        _run_server(args.model, args.port, args.toy, args.register, args.backend)
        return

    import httpx

    from verticalkit.core.predictor import Predictor, resolve_model_dir
    from verticalkit.core.registry import get_vertical

    _register(args.register)
    toy = args.model is None
    model = _toy_model_dir() if toy else resolve_model_dir(args.model)
    predictor = Predictor.load(model)
    name = f"{predictor.vertical}-{predictor.model}"
    columns = predictor.input_schema.get("columns") or {}
    if args.record:  # e.g. a raw CSV row: keep the columns the model was trained on
        record = {k: v for k, v in json.loads(args.record).items() if not columns or k in columns}
    else:
        record = get_vertical(predictor.vertical).serve_example or {
            c: 0.0 for c in columns}
    rows = []
    load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    port = args.port or _free_port()
    base = f"http://127.0.0.1:{port}"

    server = start_server(model, port, toy, token=None, register=args.register, backend=args.backend)
    try:
        asyncio.run(_load(base, valid_request(record, None), 200, args.clients))  # warm-up
        res = asyncio.run(_load(base, valid_request(record, None), args.requests, args.clients))
        rows.append({"test": "load /v1/predict, 1 record", "model": name, "backend": args.backend, **res})
        # one client: the latency of a single transaction without queueing behind 31 others
        res = asyncio.run(_load(base, valid_request(record, None), max(args.requests // 5, 100), 1))
        rows.append({"test": "sequential /v1/predict, 1 record", "model": name, "backend": args.backend, **res})
    finally:
        server.terminate()
        server.wait(10)

    server = start_server(model, port, toy, token=TOKEN, register=args.register, backend=args.backend)
    try:
        reqs = malformed_requests(args.malformed, record, name)
        codes = asyncio.run(_abuse(base, reqs))
        healthy = httpx.get(f"{base}/v2/health/ready").status_code == 200
        m, pth, h, b = valid_request(record)
        valid_after = httpx.request(m, base + pth, headers=h, content=b).status_code
        non4xx = sum(v for k, v in codes.items() if not 400 <= k < 500)
        rows.append({"test": "malformed requests, auth on", "model": name, "requests": len(reqs),
                     "status_codes": json.dumps({str(k): v for k, v in sorted(codes.items())}),
                     "non_4xx": non4xx, "healthy_after": healthy, "valid_after": valid_after})
    finally:
        server.terminate()
        server.wait(10)

    command = "python benchmarks/serve_load.py" + (f" --model {args.model}" if args.model else "") + \
        (f" --register {args.register}" if args.register else "") + f" --backend {args.backend}" + \
        f" --requests {args.requests} --clients {args.clients} --malformed {args.malformed}"
    notes = (f"server: uvicorn, 1 process, 127.0.0.1, OMP_NUM_THREADS=1; clients: {args.clients} asyncio httpx "
             f"clients in one process on the same machine ({os.cpu_count()} CPUs, shared). Latency is client-side, "
             f"request → response. Load average before the run: {load_before}. Model: {name}, trained on "
             f"{predictor.dataset} ({predictor.info.get('protocol', '?')}); to make it: `verticalkit train "
             f"{predictor.vertical} --dataset {predictor.dataset} --model {predictor.model} --out DIR`, and for "
             f"--backend onnx `verticalkit export DIR --format onnx`.")
    if args.no_save:
        print(json.dumps(rows, indent=2))
    else:
        from _common import save_results

        tag = ("toy" if toy else predictor.vertical + "_" + predictor.model) + f"_{args.backend}"
        save_results(f"serve_{tag}_load", rows[:2], command, notes)
        save_results(f"serve_{tag}_abuse", rows[2:], command, notes)
    abuse = rows[2]
    bad = rows[0]["errors"] or rows[1]["errors"] or abuse["non_4xx"] or not abuse["healthy_after"] or \
        abuse["valid_after"] != 200
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
