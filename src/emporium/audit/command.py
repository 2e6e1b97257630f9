"""``emporium audit``: check I1 to I4 on a running system and say what is wrong."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import aiohttp
import typer

from emporium.audit.collect import AuditError, collect
from emporium.audit.invariants import check_all
from emporium.audit.report import as_json, as_text
from emporium.launcher import VarLayout, read_state

__all__ = ["audit", "gateway_of"]


def gateway_of(var_dir: Path | None) -> str:
    """The running system's gateway (from the launcher's state), else the default port."""
    layout = VarLayout.at(var_dir or Path(os.environ.get("EMPORIUM_VAR_DIR", "var")))
    state = read_state(layout)
    if state and state.get("phase") == "ready":
        return str(state["summary"]["gateway_url"])
    return f"http://127.0.0.1:{os.environ.get('EMPORIUM_GATEWAY_PORT', '8080')}"


def audit(
    gateway: Annotated[
        str | None, typer.Option(help="Gateway URL (default: the running system's)")
    ] = None,
    var_dir: Annotated[Path | None, typer.Option("--var-dir", help="State directory")] = None,
    admin_email: Annotated[str, typer.Option(help="An admin account")] = "admin@emporium.local",
    admin_password: Annotated[
        str, typer.Option(envvar="EMPORIUM_ADMIN_PASSWORD", help="(env EMPORIUM_ADMIN_PASSWORD)")
    ] = "emporium-admin",
    saga_deadline: Annotated[
        float, typer.Option(help="Seconds an order may stay PENDING (I3)", min=1)
    ] = 60.0,
    as_json_output: Annotated[bool, typer.Option("--json", help="JSON for machines")] = False,
) -> None:
    """Check the invariants I1 to I4 across every service's own API; exit 1 on any violation."""
    url = (gateway or gateway_of(var_dir)).rstrip("/")
    try:
        snapshot = asyncio.run(
            collect(
                url, admin_email, admin_password, saga_deadline=timedelta(seconds=saga_deadline)
            )
        )
    except (AuditError, aiohttp.ClientError, OSError) as error:
        typer.echo(f"error: the audit could not read the system at {url}: {error}", err=True)
        raise typer.Exit(2) from None
    violations = check_all(snapshot)
    typer.echo(as_json(snapshot, violations) if as_json_output else as_text(snapshot, violations))
    raise typer.Exit(1 if violations else 0)
