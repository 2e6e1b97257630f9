"""``emporium deadletters``: every service's dead letters, and replaying one.

Through the gateway's admin API, signed in as the local admin (as ``emporium
trace`` does for the gateway's spans): the same routes the ops page uses.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from emporium.contracts.routing import CONSUMING_SERVICES

__all__ = ["DEAD_LETTER_SERVICES", "admin_headers", "list_dead_letters", "replay_dead_letter"]

DEAD_LETTER_SERVICES = CONSUMING_SERVICES
ADMIN_EMAIL = "admin@emporium.local"


def admin_headers(client: httpx.Client, gateway: str) -> dict[str, str]:
    password = os.environ.get("EMPORIUM_ADMIN_PASSWORD", "emporium-admin")
    token = client.post(
        f"{gateway}/api/identity/token", json={"email": ADMIN_EMAIL, "password": password}
    )
    if token.status_code != 200:
        raise PermissionError(f"cannot sign in as {ADMIN_EMAIL}: {token.status_code}")
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def list_dead_letters(gateway: str) -> dict[str, list[dict[str, Any]] | None]:
    """Each service's dead letters (None: the service did not answer)."""
    found: dict[str, list[dict[str, Any]] | None] = {}
    with httpx.Client(timeout=5.0) as client:
        headers = admin_headers(client, gateway)
        for service in DEAD_LETTER_SERVICES:
            try:
                answer = client.get(f"{gateway}/api/{service}/admin/deadletters", headers=headers)
            except httpx.HTTPError:
                found[service] = None
                continue
            found[service] = answer.json()["items"] if answer.status_code == 200 else None
    return found


def replay_dead_letter(gateway: str, service: str, letter_id: str) -> bool:
    with httpx.Client(timeout=5.0) as client:
        headers = admin_headers(client, gateway)
        answer = client.post(
            f"{gateway}/api/{service}/admin/deadletters/{letter_id}/replay", headers=headers
        )
    return answer.status_code == 202
