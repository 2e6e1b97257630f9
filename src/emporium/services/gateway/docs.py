"""Contracts as documents at the gateway, readable with no internet.

- ``/api/docs``: Swagger UI over the merged OpenAPI (``/api/openapi.json``),
  its assets vendored from npm ``swagger-ui-dist`` into ``static/swagger``;
- ``/api/asyncapi.json``: the AsyncAPI 3 document of every message, generated
  from :mod:`emporium.contracts`;
- ``/api/asyncapi``: that document as a server-rendered page (channels,
  payload fields, producer, consumers), no script at all.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from starlette.responses import FileResponse, HTMLResponse, JSONResponse

from emporium.contracts.asyncapi import asyncapi_document

__all__ = ["docs_router"]

_SWAGGER = Path(__file__).parent / "static" / "swagger"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "init.js": "text/javascript",
}
_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Emporium API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/assets/init.js"></script></body></html>
"""
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;"
    "padding:.3rem;text-align:left;vertical-align:top}code{font-size:.9em}"
)


def _field_rows(payload: dict[str, Any]) -> str:
    required = set(payload.get("required", []))
    rows = []
    for name, field in payload.get("properties", {}).items():
        shape = field.get("type") or field.get("$ref", "").rsplit("/", 1)[-1] or "any"
        if "anyOf" in field:
            shape = " | ".join(
                str(a.get("type") or a.get("$ref", "").rsplit("/", 1)[-1]) for a in field["anyOf"]
            )
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(str(shape))}</td>"
            f"<td>{'required' if name in required else ''}</td></tr>"
        )
    return "".join(rows)


def asyncapi_page(document: dict[str, Any]) -> str:
    by_channel: dict[str, dict[str, list[str]]] = {}
    for operation in document["operations"].values():
        channel = operation["channel"]["$ref"].rsplit("/", 1)[1]
        roles = by_channel.setdefault(channel, {"send": [], "receive": []})
        roles[operation["action"]].append(operation["x-service"])
    sections = []
    for name, channel in document["channels"].items():
        message = document["components"]["messages"][name]
        roles = by_channel.get(name, {"send": [], "receive": []})
        sections.append(
            f'<section id="{html.escape(name)}"><h2>{html.escape(name)} '
            f"<small>v{message['x-version']}</small></h2>"
            f"<p>{html.escape(message['summary'])}</p>"
            f"<p>Channel <code>{html.escape(channel['address'])}</code>; "
            f"producer <b>{html.escape(', '.join(roles['send']))}</b>; consumers "
            f"<b>{html.escape(', '.join(roles['receive']) or 'none yet')}</b></p>"
            f"<table><thead><tr><th>field</th><th>type</th><th></th></tr></thead>"
            f"<tbody>{_field_rows(message['payload'])}</tbody></table></section>"
        )
    index = "".join(
        f'<li><a href="#{html.escape(n)}">{html.escape(n)}</a></li>' for n in document["channels"]
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Emporium messages</title>"
        '<link rel="stylesheet" href="/api/asyncapi.css"></head><body>'
        "<h1>Emporium messages (AsyncAPI 3)</h1>"
        '<p>The document: <a href="/api/asyncapi.json">/api/asyncapi.json</a></p>'
        f"<ul>{index}</ul>{''.join(sections)}</body></html>"
    )


def docs_router() -> APIRouter:
    router = APIRouter()
    document = asyncapi_document()
    page = asyncapi_page(document)
    encoded = json.dumps(document).encode()

    @router.get("/api/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return HTMLResponse(_SWAGGER_PAGE)

    @router.get("/api/docs/assets/{name}", include_in_schema=False)
    async def swagger_asset(name: str) -> FileResponse:
        media_type = _ASSETS.get(name)
        if media_type is None:
            raise HTTPException(404)
        return FileResponse(_SWAGGER / name, media_type=media_type)

    @router.get("/api/asyncapi.json", include_in_schema=False)
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(json.loads(encoded))

    @router.get("/api/asyncapi", include_in_schema=False)
    async def asyncapi_html() -> HTMLResponse:
        return HTMLResponse(page)

    @router.get("/api/asyncapi.css", include_in_schema=False)
    async def asyncapi_css() -> HTMLResponse:
        return HTMLResponse(_STYLE, media_type="text/css")

    return router
