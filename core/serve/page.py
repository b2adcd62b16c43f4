"""The demo page of ``verticalkit serve``: ``GET /``, one self-contained HTML page.

The page is a generic shell (``demo_page.html``, package data: inline CSS and script, no
external URL) driven by the model metadata (``GET /v2/models/<name>``: inputs, task, classes)
and the vertical's ``demo`` hook, which names the form: ``"table"`` (one field per input
column, plus a CSV upload), ``"image"`` (a PNG / JPEG / DICOM upload, sent as
``image_base64``), ``"text"`` (a text box) or ``"json"`` (the record as JSON; the default for
non-table models). It scores through ``POST /v1/predict``, so its inputs meet the API's own
validation and bearer token: the page is served without a token, asks for one when the
metadata answers 401 and then sends it as ``Authorization: Bearer``; without it the page shows
nothing of the model but its name (which ``/docs`` shows too).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from ..errors import ConfigError

FORMS = ("table", "image", "text", "json")
TEMPLATE = Path(__file__).with_name("demo_page.html")


def demo_form(demo: str | None, table: bool) -> str:
    """The form kind: the vertical's ``demo`` hook, else ``table`` for table models, else ``json``."""
    form = demo or ("table" if table else "json")
    if form not in FORMS:
        raise ConfigError(f"Vertical.demo must be one of {FORMS}, got {form!r}")
    return form


def page_config(name: str, title: str, form: str, example: dict[str, Any] | None, explain: bool) -> str:
    """The page's configuration as JSON safe inside a ``<script type="application/json">``."""
    cfg = {"name": name, "title": title, "form": form, "example": example or {}, "explain": explain,
           "metadata": f"/v2/models/{name}", "predict": "/v1/predict"}
    # "<" escaped: no "</script>" in an example can end the element early
    return json.dumps(cfg).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def add_demo_page(app: FastAPI, *, name: str, title: str, form: str, example: dict[str, Any] | None,
                  explain: bool = False) -> None:
    """Add ``GET /`` (the demo page) to ``app``. ``explain``: the page asks /v1/predict for
    reason codes (``?explain=true``), e.g. a Grad-CAM overlay."""
    template = TEMPLATE.read_text(encoding="utf-8")
    config = page_config(name, title, form, example, explain)

    @app.get("/", include_in_schema=False)
    async def demo_page() -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        body = template.replace("{{config}}", config).replace("{{nonce}}", nonce)
        # offline by construction: the browser may load nothing but this origin (and data:/blob: images)
        csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
               "img-src 'self' data: blob:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
        return HTMLResponse(body, headers={"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer",
                                           "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
