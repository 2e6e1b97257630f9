"""``emporium trace ID``: one trace's spans from every instance, as a tree.

The launcher knows every instance; each keeps its recent spans at
``/internal/spans``. The gateway serves nothing under ``/internal/`` on its
public port, so its own spans come through its admin-only
``/api/gateway/traces/ID`` (the CLI signs in as the local admin).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import httpx
from rich.tree import Tree

__all__ = ["gather_spans", "span_tree"]

ADMIN_EMAIL = "admin@emporium.local"
_TIMEOUT = 3.0


def _spans(client: httpx.Client, url: str, query: dict[str, str]) -> list[dict[str, Any]]:
    try:
        answer = client.get(f"{url}/internal/spans", params=query)
    except httpx.HTTPError:
        return []
    if answer.status_code != 200:
        return []
    return list(answer.json().get("spans", []))


def _gateway_spans(client: httpx.Client, gateway: str, key: str) -> list[dict[str, Any]]:
    password = os.environ.get("EMPORIUM_ADMIN_PASSWORD", "emporium-admin")
    try:
        token = client.post(
            f"{gateway}/api/identity/token", json={"email": ADMIN_EMAIL, "password": password}
        )
        if token.status_code != 200:
            return []
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        answer = client.get(f"{gateway}/api/gateway/traces/{key}", headers=headers)
    except httpx.HTTPError:
        return []
    return list(answer.json().get("spans", [])) if answer.status_code == 200 else []


def gather_spans(
    key: str, instances: Iterable[dict[str, Any]], gateway: str
) -> list[dict[str, Any]]:
    """Every span of the traces ``key`` (trace, request or order id) names, deduplicated."""
    urls = [
        f"http://127.0.0.1:{i['port']}"
        for i in instances
        if i.get("port") and i["service"] != "gateway" and i.get("health") != "down"
    ]
    with httpx.Client(timeout=_TIMEOUT) as client:
        found = [s for url in urls for s in _spans(client, url, {"match": key})]
        found += _gateway_spans(client, gateway, key)
        by_id = {s["span_id"]: s for s in found}
        for trace_id in sorted({s["trace_id"] for s in found})[:5]:
            for url in urls:
                for span in _spans(client, url, {"trace_id": trace_id}):
                    by_id[span["span_id"]] = span
    return sorted(by_id.values(), key=lambda s: s["start_ms"])


_KIND_STYLE = {"server": "green", "client": "cyan", "producer": "magenta", "consumer": "yellow"}


def _label(span: dict[str, Any]) -> str:
    style = _KIND_STYLE.get(span["kind"], "white")
    error = " [red]ERROR[/]" if span.get("error") else ""
    return (
        f"[bold]{span['service']}[/] [{style}]{span['kind']}[/] {span['name']} "
        f"[dim]{span['duration_ms']:.1f} ms[/]{error}"
    )


def span_tree(spans: list[dict[str, Any]]) -> list[Tree]:
    """One Rich tree per trace root (a span whose parent was not found), children by start."""
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots: list[dict[str, Any]] = []
    for span in spans:
        if span["parent_id"] in by_id:
            children.setdefault(span["parent_id"], []).append(span)
        else:
            roots.append(span)

    def grow(node: Tree, span: dict[str, Any]) -> None:
        for child in sorted(children.get(span["span_id"], []), key=lambda s: s["start_ms"]):
            grow(node.add(_label(child)), child)

    trees = []
    for root in roots:
        tree = Tree(f"trace {root['trace_id']}  " + _label(root))
        grow(tree, root)
        trees.append(tree)
    return trees
