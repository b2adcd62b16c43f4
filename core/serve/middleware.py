"""ASGI middleware of ``verticalkit serve``: the body size limit and the /v1/predict fast path.

:class:`BodyLimit` answers 413 for bodies over the limit and hands the app a fully buffered
body. :class:`RecordsFastPath` answers the common /v1/predict request (JSON records whose
fields and types are exactly the model's, an ONNX table export, no reason codes) without
going through FastAPI's routing, dependency injection and pydantic: it costs a fraction of
a trivial FastAPI endpoint, which is what keeps p99 latency low under many concurrent
clients on few cores. Anything else — bad JSON, a wrong type, a missing or extra field, a
wrong token, a query string, another content type — is passed on unchanged to the FastAPI
app, which answers it (so errors, and the accepted inputs, are the FastAPI route's).
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
from typing import Any, Awaitable, Callable

from .schemas import INT64, _kind

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]

try:  # orjson when installed: the fast path parses with it, or falls back to the stdlib
    from orjson import JSONDecodeError as _JSONError, loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    from json import JSONDecodeError as _JSONError, loads as _loads


async def read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole request body, or None when it exceeds ``max_bytes`` or the client left."""
    chunks, seen = [], 0
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return None
        chunks.append(msg.get("body", b""))
        seen += len(chunks[-1])
        if seen > max_bytes:
            return None
        if not msg.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` once, then defers to the original ``receive``."""
    sent = False

    async def again() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def send_json(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for bodies over ``max_bytes`` (by Content-Length or as streamed); the app always
    receives the complete body in one message and never a partial one."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._reject(send)
            return
        body = await read_body(receive, self.max_bytes)
        if body is None:
            await self._reject(send)  # over the limit (a client that went away does not read it)
            return
        await self.app(scope, replay(body, receive), send)

    async def _reject(self, send: Send) -> None:
        await send_json(send, 413, json.dumps({"error": "request body too large", "max_bytes": self.max_bytes}).encode())


def plain_records(payload: Any, columns: dict[str, str], max_records: int) -> list[dict[str, Any]] | None:
    """``payload["records"]`` when every record has exactly ``columns`` with values of the
    plain JSON type of the column (float: int or finite float; int: int in int64; bool: bool; other: str),
    else None: the route's rules (``serving_schemas._field_spec``), never looser. Anything this
    refuses goes to the validating route, which answers it."""
    if type(payload) is not dict or len(payload) != 1:
        return None
    records = payload.get("records")
    if type(records) is not list or not 0 < len(records) <= max_records:
        return None
    n_cols = len(columns)
    checks = [(c, _PLAIN[_kind(t)]) for c, t in columns.items()]
    for r in records:
        if type(r) is not dict or len(r) != n_cols:
            return None
        for c, ok in checks:
            if c not in r or not ok(r[c]):
                return None
    return records


_PLAIN: dict[str, Callable[[Any], bool]] = {  # the route's rules (serving_schemas._field_spec), or stricter
    "f": lambda v: (type(v) is float and math.isfinite(v)) or type(v) is int,
    "i": lambda v: type(v) is int and INT64[0] <= v <= INT64[1],
    "u": lambda v: type(v) is int and 0 <= v <= INT64[1],
    "b": lambda v: type(v) is bool,
    "O": lambda v: type(v) is str,
}


class RecordsFastPath:
    """Answer plain ``POST /v1/predict`` requests; pass every other request (with its body,
    already read) to ``app``.

    ``predict(records)`` gives one prediction per record and ``render(predictions)`` the
    response body. Requests that arrive together are scored together: each request waits one
    event-loop turn, then one ``predict`` call scores the records of every request that came in
    meanwhile (at most ``max_batch`` records per call) and each request gets its own slice. A
    model scores a batch of rows in far less time than as many single rows, so under
    concurrent load this cuts the CPU per request; a lone request pays one loop turn (µs).
    ``token``: when set, the request must carry ``Authorization: Bearer <token>`` to be
    answered here (otherwise the app answers it, with its 401). The body must already be
    size-limited by :class:`BodyLimit` outside this middleware.
    """

    def __init__(self, app: Any, *, predict: Callable[[list[dict[str, Any]]], list[Any]],
                 render: Callable[[list[Any]], bytes], columns: dict[str, str], max_records: int,
                 token: str | None, path: str = "/v1/predict", max_body: int = 1 << 30, max_batch: int = 256):
        self.app, self.predict, self.render, self.columns = app, predict, render, columns
        self.max_records, self.path, self.max_body, self.max_batch = max_records, path, max_body, max_batch
        self.auth = None if token is None else b"bearer " + token.encode()
        self._pending: list[tuple[list[dict[str, Any]], asyncio.Future]] = []

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST" \
                or scope.get("query_string") or not self._headers_ok(scope["headers"]):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive, self.max_body)
        if body is None:  # over the outer limit or the client left: nothing to answer here
            return
        try:
            records = plain_records(_loads(body), self.columns, self.max_records)
        except (_JSONError, ValueError, TypeError):
            records = None
        if records is not None:
            out = await self._scored(records)
            if out is not None:
                await send_json(send, 200, out)
                return
        await self.app(scope, replay(body, receive), send)

    async def _scored(self, records: list[dict[str, Any]]) -> bytes | None:
        """The response body for ``records``, scored with whatever else arrived this loop turn;
        None when scoring failed (the app then scores them again and answers with its error)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((records, future))
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        start = 0
        while start < len(pending):
            group, rows = [], 0  # requests whose records fit in one batch (a large one goes alone)
            while start < len(pending) and (not group or rows + len(pending[start][0]) <= self.max_batch):
                group.append(pending[start])
                rows += len(pending[start][0])
                start += 1
            try:
                preds = self.predict([r for records, _ in group for r in records])
            except Exception:  # noqa: BLE001 - each request goes to the app, which answers with its error
                preds = None
            i = 0
            for records, future in group:
                if not future.done():  # a client that went away cancelled its future
                    future.set_result(None if preds is None else self.render(preds[i:i + len(records)]))
                i += len(records)

    def _headers_ok(self, headers: list[tuple[bytes, bytes]]) -> bool:
        json_body = auth_ok = False
        for key, value in headers:
            if key == b"content-type":
                json_body = value == b"application/json" or value.startswith(b"application/json;")
            elif key == b"authorization" and self.auth is not None:
                scheme, _, given = value.partition(b" ")
                auth_ok = scheme.lower() == b"bearer" and secrets.compare_digest(given.strip(), self.auth[7:])
        return json_body and (self.auth is None or auth_ok)
