"""Load and abuse test of `verticalkit serve` on loopback.

1. Load: 1 client, then ``--clients`` (32) concurrent clients, each on one keep-alive
   connection, send ``--requests`` ``POST /v1/predict`` requests of one record each →
   throughput, p50 / p90 / p99 / max latency (client side, request written → response
   read), errors, and the server's CPU time per request. The same run measures a
   trivial FastAPI endpoint in the same server process (``POST /_baseline``: parse the
   same JSON body, return a constant) and the server's floor (``POST /_floor``: a raw
   ASGI answer before FastAPI's routing, i.e. uvicorn + Starlette's entry alone) the
   same way, interleaved in ``--rounds`` rounds, so a noisy shared machine shows in all
   three: the table gives absolute figures and the model / baseline ratios.
2. Abuse: ``--malformed`` (1,000) malformed requests (bad JSON, wrong types, missing /
   extra fields, empty list, oversized body, wrong / missing token, wrong content type,
   bad query flag, bad v2 tensors) with auth on → every one must be a 4xx, and the server
   must still answer health and a valid request afterwards.

The server runs in a subprocess (``create_app`` + uvicorn as ``verticalkit serve`` runs it:
one process, 127.0.0.1, access log off; uvicorn picks httptools / uvloop when installed),
so clients and server do not share a GIL. The load clients are a minimal asyncio
HTTP/1.1 client on uvloop when installed (their CPU per request is in the table: on a
2-core machine they compete with the server); the abuse test uses httpx.

    python benchmarks/serve_load.py                      # the toy logistic-regression model
    python benchmarks/serve_load.py --model RUN_DIR --backend onnx \\
        --record '{"TX_AMOUNT": 153.47, ...}'             # a trained run (e.g. fraud gbdt)

The printed and saved "Reproduce" line holds every argument of the run, the record included.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shlex
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
GOAL_P99_MS = 10.0  # issue #6: p99 ≤ 10 ms for one fraud transaction, 32 clients, gbdt head


# -- request generators (also used by tests/test_serve.py) -------------------------------------------
def malformed_requests(n: int, record: dict[str, Any], model_name: str, token: str | None = TOKEN,
                       max_body: int = MAX_BODY) -> list[tuple[str, str, dict[str, str], bytes]]:
    """``n`` bad requests ``(method, path, headers, body)``, cycling through the kinds of abuse."""
    auth = {"authorization": f"Bearer {token}"} if token else {}
    js = {"content-type": "application/json", **auth}
    field = next(iter(record))
    good = json.dumps({"records": [record]}).encode()
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
        ("POST", "/v1/predict?explain=maybe", js, good),                                    # bad query flag
        ("POST", f"/v2/models/{model_name}/infer", js,
         json.dumps({"inputs": [{"name": field, "shape": [3], "datatype": "FP64", "data": [1.0]}]}).encode()),
        ("POST", f"/v2/models/{model_name}/infer", js, json.dumps({"inputs": "nope"}).encode()),
        ("POST", "/v2/models/no-such-model/infer", js,
         json.dumps({"inputs": [{"name": field, "shape": [1], "datatype": "FP64", "data": [1.0]}]}).encode()),
    ]
    if token:
        kinds += [("POST", "/v1/predict", {"content-type": "application/json"}, good),             # no token
                  ("POST", "/v1/predict", {"content-type": "application/json",
                                           "authorization": "Bearer wrong"}, good),                  # wrong
                  ("POST", "/v1/predict", {"content-type": "application/json",
                                           "authorization": token}, good),                            # no scheme
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

    from verticalkit.core.heads.predictor import Predictor
    from verticalkit.core.registry import register
    from verticalkit.core.train.run import input_schema

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


def stack() -> dict[str, str]:
    """The HTTP stack uvicorn runs here (its "auto" choices) and the response encoder."""
    def version(mod: str) -> str | None:
        if importlib.util.find_spec(mod) is None:
            return None
        from importlib.metadata import PackageNotFoundError, version as v

        try:
            return v(mod)
        except PackageNotFoundError:
            return "?"

    import uvicorn

    http, loop, orj = version("httptools"), version("uvloop"), version("orjson")
    return {"uvicorn": uvicorn.__version__, "http": f"httptools {http}" if http else "h11",
            "loop": f"uvloop {loop}" if loop else "asyncio", "json": f"orjson {orj}" if orj else "json"}


def start_server(model: Path, port: int, toy: bool, token: str | None, register: str | None = None,
                 backend: str = "predictor", workers: int = 1) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("VERTICALKIT_TOKEN", None)
    if token:
        env["VERTICALKIT_TOKEN"] = token
    cmd = [sys.executable, __file__, "--server", "--model", str(model), "--port", str(port)]
    cmd += ["--toy"] if toy else []
    cmd += (["--register", register] if register else []) + ["--backend", backend, "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    for _ in range(900):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                time.sleep(2 if workers > 1 else 0)  # let every worker come up, not just the first
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become ready in 90 s")


BENCH_ENV = "VERTICALKIT_SERVE_LOAD_ARGS"


def bench_app() -> Any:
    """``create_app`` (as ``verticalkit serve`` builds it) plus the baseline route; uvicorn factory."""
    kw = json.loads(os.environ[BENCH_ENV])
    _register(kw["register"])
    if kw["toy"]:
        sys.path.insert(0, str(ROOT / "tests"))
        from toy_vertical import toy_vertical

        from verticalkit.core.registry import register as reg

        reg(toy_vertical())
    from fastapi import Body

    from verticalkit.core.serve.app import create_app

    app = create_app(kw["model"], max_body_bytes=MAX_BODY, backend=kw["backend"])

    @app.post("/_baseline", include_in_schema=False)
    async def baseline(body: dict[str, Any] = Body(...)) -> dict[str, bool]:  # noqa: B008
        return {"ok": True}

    app.add_middleware(Floor)
    return app


class Floor:
    """``POST /_floor``: read the body, answer a constant, in raw ASGI before FastAPI's routing —
    the cost of the HTTP server and Starlette's entry alone (the floor any endpoint pays)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/_floor":
            await self.app(scope, receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")]})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})


def _run_server(model: str, port: int, toy: bool, register: str | None, backend: str, workers: int) -> None:
    """The app on uvicorn as ``core.serve.app.serve`` runs it (uvicorn's defaults, no access log)."""
    import uvicorn

    os.environ[BENCH_ENV] = json.dumps({"model": model, "toy": toy, "register": register, "backend": backend})
    if workers > 1:  # worker processes import this module by name (the script's folder is on sys.path)
        uvicorn.run("serve_load:bench_app", factory=True, workers=workers, host="127.0.0.1", port=port,
                    log_level="warning", access_log=False)
    else:
        uvicorn.run(bench_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _cpu_seconds(pid: int) -> float | None:
    """user + system CPU seconds of process ``pid`` and its children (uvicorn workers); Linux /proc."""
    def stat(p: int | str) -> list[str]:
        return Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()

    try:
        pids = [pid]
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if int(stat(d.name)[1]) == pid:
                        pids.append(int(d.name))
                except (OSError, IndexError, ValueError):
                    pass
        total = 0.0
        for p in pids:
            f = stat(p)
            total += int(f[11]) + int(f[12])
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# -- load clients ------------------------------------------------------------------------------------
def _raw(port: int, path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 request → (status, body). The server answers with Content-Length."""
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _load(port: int, path: str, body: bytes, n_requests: int, clients: int) -> tuple[list[float], int]:
    """``clients`` connections send ``n_requests`` requests in all, back to back → (latencies s, errors)."""
    raw = _raw(port, path, body)
    latencies: list[float] = []
    errors = 0
    remaining = n_requests

    async def client() -> None:
        nonlocal remaining, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                try:
                    status, _ = await _exchange(reader, writer, raw)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                latencies.append(time.perf_counter() - t0)
                errors += status != 200
        finally:
            writer.close()

    await asyncio.gather(*[client() for _ in range(clients)])
    return latencies, errors


def run_loop(coro: Any) -> Any:
    """Run the load clients on uvloop when it is installed (half the client CPU per request of
    asyncio's loop, so more of the 2 shared cores is left to the server), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _summary(lat: list[float], errors: int, seconds: float, cpu: float | None, client_cpu: float) -> dict[str, Any]:
    lat = sorted(lat)
    q = lambda p: round(1e3 * lat[min(len(lat) - 1, int(p * len(lat)))], 2)  # noqa: E731
    return {"requests": len(lat) + errors, "errors": errors, "seconds": round(seconds, 2),
            "throughput_rps": round(len(lat) / seconds, 1), "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99),
            "max_ms": round(1e3 * lat[-1], 2), "mean_ms": round(1e3 * statistics.fmean(lat), 2),
            "server_cpu_ms_per_req": None if cpu is None else round(1e3 * cpu / max(len(lat), 1), 3),
            "client_cpu_ms_per_req": round(1e3 * client_cpu / max(len(lat), 1), 3)}


def measure(port: int, server_pid: int, targets: dict[str, tuple[str, bytes]], n_requests: int, clients: int,
            rounds: int) -> dict[str, dict[str, Any]]:
    """Each target gets ``n_requests`` requests from ``clients`` clients, split in ``rounds`` rounds that
    alternate between the targets (which one goes first alternates too)."""
    acc = {k: {"lat": [], "errors": 0, "seconds": 0.0, "cpu": 0.0, "client_cpu": 0.0} for k in targets}
    per_round = [n_requests // rounds + (r < n_requests % rounds) for r in range(rounds)]
    for r, n in enumerate(per_round):
        order = list(targets) if r % 2 == 0 else list(reversed(targets))
        for key in order:
            path, body = targets[key]
            cpu0, own0, t0 = _cpu_seconds(server_pid), time.process_time(), time.perf_counter()
            lat, err = run_loop(_load(port, path, body, n, clients))
            seconds, cpu1 = time.perf_counter() - t0, _cpu_seconds(server_pid)
            a = acc[key]
            a["client_cpu"] += time.process_time() - own0
            a["lat"] += lat
            a["errors"] += err
            a["seconds"] += seconds
            a["cpu"] = None if cpu0 is None or cpu1 is None or a["cpu"] is None else a["cpu"] + cpu1 - cpu0
    return {k: _summary(a["lat"], a["errors"], a["seconds"], a["cpu"], a["client_cpu"]) for k, a in acc.items()}


async def _abuse(base: str, reqs: list[tuple]) -> dict[int, int]:
    import httpx

    codes: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        for method, path, headers, body in reqs:
            r = await c.request(method, path, headers=headers, content=body or None)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
    return codes


# -- main --------------------------------------------------------------------------------------------
def default_record(vertical: Any, columns: dict[str, str]) -> dict[str, Any]:
    """The vertical's serve_example when it has the model's columns, else a neutral record (0 / "")."""
    example = getattr(vertical, "serve_example", None) or {}
    if columns and set(example) == set(columns):
        return dict(example)
    if not columns:
        return dict(example)
    print("note: the vertical's serve_example does not have this model's columns; using zeros / empty strings "
          "(pass --record JSON for a realistic record)", file=sys.stderr)
    return {c: 0.0 if t.startswith(("float", "int", "uint", "bool")) else "" for c, t in columns.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="run or model folder (default: a toy model trained here)")
    p.add_argument("--requests", type=int, default=2000, help="requests per endpoint and concurrency level")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (1 client is measured too)")
    p.add_argument("--rounds", type=int, default=4, help="interleaved model / baseline rounds per level")
    p.add_argument("--malformed", type=int, default=1000)
    p.add_argument("--record", help="JSON of one input record (a transaction for a transaction model; default: "
                                    "the vertical's serve_example when it has the model's columns)")
    p.add_argument("--port", type=int)
    p.add_argument("--backend", default="predictor", choices=["predictor", "onnx"],
                   help="onnx: the server scores with onnxruntime on MODEL/../export/onnx")
    p.add_argument("--register", help="import MODULE and register its VERTICAL (a vertical not yet installed)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (verticalkit serve --workers)")
    p.add_argument("--tag", help="results file name part (default: <vertical>_<model>_<backend>)")
    p.add_argument("--server", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--toy", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-save", action="store_true", help="print only")
    args = p.parse_args()
    if args.server:
        _run_server(args.model, args.port, args.toy, args.register, args.backend, args.workers)
        return

    import httpx

    from verticalkit.core.heads.predictor import Predictor, resolve_model_dir
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
        record = default_record(get_vertical(predictor.vertical), columns)
    body = json.dumps({"records": [record]}).encode()
    load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    port = args.port or _free_port()
    base = f"http://127.0.0.1:{port}"
    targets = {"model": ("/v1/predict", body), "baseline": ("/_baseline", body), "floor": ("/_floor", body)}

    rows: list[dict[str, Any]] = []
    server = start_server(model, port, toy, token=None, register=args.register, backend=args.backend,
                          workers=args.workers)
    try:
        check = httpx.post(f"{base}/v1/predict", content=body, headers={"content-type": "application/json"})
        if check.status_code != 200:
            raise SystemExit(f"the record is refused ({check.status_code}): {check.text[:500]}")
        measure(port, server.pid, targets, 300, args.clients, 2)  # warm-up
        for clients in (1, args.clients):
            res = measure(port, server.pid, targets, args.requests, clients, args.rounds)
            for key, label in (("model", f"{name} /v1/predict ({args.backend})"),
                               ("baseline", "baseline: trivial FastAPI POST"),
                               ("floor", "floor: raw ASGI POST, no FastAPI")):
                rows.append({"endpoint": label, "clients": clients, **res[key],
                             "p50_ratio": "", "p99_ratio": "", "cpu_ratio": ""})
            m, b = res["model"], res["baseline"]
            rows[-3].update(p50_ratio=round(m["p50_ms"] / b["p50_ms"], 2), p99_ratio=round(m["p99_ms"] / b["p99_ms"], 2),
                            cpu_ratio="" if not b["server_cpu_ms_per_req"] else
                            round(m["server_cpu_ms_per_req"] / b["server_cpu_ms_per_req"], 2))
    finally:
        server.terminate()
        server.wait(10)
    load_after = " / ".join(f"{x:.2f}" for x in os.getloadavg())

    abuse_rows: list[dict[str, Any]] = []
    if args.malformed:
        server = start_server(model, port, toy, token=TOKEN, register=args.register, backend=args.backend)
        try:
            reqs = malformed_requests(args.malformed, record, name)
            codes = asyncio.run(_abuse(base, reqs))
            healthy = httpx.get(f"{base}/v2/health/ready").status_code == 200
            m_, pth, h, b_ = valid_request(record)
            valid_after = httpx.request(m_, base + pth, headers=h, content=b_).status_code
            non4xx = sum(v for k, v in codes.items() if not 400 <= k < 500)
            abuse_rows.append({"test": "malformed requests, auth on", "model": name, "requests": len(reqs),
                               "status_codes": json.dumps({str(k): v for k, v in sorted(codes.items())}),
                               "non_4xx": non4xx, "healthy_after": healthy, "valid_after": valid_after})
        finally:
            server.terminate()
            server.wait(10)

    command = "python benchmarks/serve_load.py" + (f" --model {shlex.quote(str(args.model))}" if args.model else "")
    command += (f" --register {args.register}" if args.register else "") + f" --backend {args.backend}"
    command += f" --requests {args.requests} --clients {args.clients} --rounds {args.rounds} --workers {args.workers}"
    command += f" --malformed {args.malformed}" + (f" --record {shlex.quote(json.dumps(record))}" if args.record else "")
    command += f" --tag {args.tag}" if args.tag else ""
    st = stack()
    top = next((r for r in rows if r["clients"] == args.clients and r["endpoint"].startswith(name)), None)
    floor = next((r for r in rows if r["clients"] == args.clients and r["endpoint"].startswith("floor")), None)
    goal = ""
    if top is not None and floor is not None:
        goal = (f"Goal p99 ≤ {GOAL_P99_MS:g} ms at {args.clients} clients: "
                f"{'met' if top['p99_ms'] <= GOAL_P99_MS else 'NOT met'} (p99 {top['p99_ms']} ms, "
                f"{top['p99_ratio']}× the trivial FastAPI endpoint's p99 in the same run; the raw ASGI floor's "
                f"p99 {floor['p99_ms']} ms). ")
    make = "" if toy else (f"Model: {name}, trained on {predictor.dataset} ({predictor.info.get('protocol', '?')}); "
                           f"to make it: `verticalkit train {predictor.vertical} --dataset {predictor.dataset} --model "
                           f"{predictor.model} --out {args.model}`" + (f" then `verticalkit export {args.model} "
                                                                       f"--format onnx`" if args.backend == "onnx"
                                                                       else "") + ". ")
    notes = (goal + f"Server: create_app + uvicorn {st['uvicorn']} ({st['http']}, {st['loop']}, responses "
             f"{st['json']}), {args.workers} worker process{'es' if args.workers > 1 else ''}, 127.0.0.1, access log off, OMP_NUM_THREADS=1. Clients: a minimal "
             f"HTTP/1.1 client on {'uvloop' if importlib.util.find_spec('uvloop') else 'asyncio'}, one keep-alive connection each, in one process on the same machine "
             f"({os.cpu_count()} CPUs, shared with other jobs: load average {load_before} before, {load_after} "
             f"after). Latency is client-side (request written → response read); {args.requests} requests per "
             f"endpoint and level, in {args.rounds} rounds alternating with the baseline (a trivial FastAPI POST on "
             f"the same server: parse the same body, return a constant) and the floor (raw ASGI in the same server, "
             f"before FastAPI's routing: read the body, return a constant). server_cpu_ms_per_req: the server "
             f"process's CPU time (workers included) / requests; client_cpu_ms_per_req: the load clients' CPU time "
             f"/ requests. Record: {json.dumps(record)}. " + make)
    if args.no_save:
        print(json.dumps({"load": rows, "abuse": abuse_rows, "notes": notes}, indent=2))
    else:
        from _common import save_results

        tag = args.tag or ("toy" if toy else predictor.vertical + "_" + predictor.model) + f"_{args.backend}" + \
            (f"_w{args.workers}" if args.workers > 1 else "")
        save_results(f"serve_{tag}_load", rows, command, notes)
        if abuse_rows:
            save_results(f"serve_{tag}_abuse", abuse_rows, command, notes)
    bad = any(r["errors"] for r in rows) or any(
        a["non_4xx"] or not a["healthy_after"] or a["valid_after"] != 200 for a in abuse_rows)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
