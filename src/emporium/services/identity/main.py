"""The identity service: settings, routes, and the chassis does the rest.

identity verifies the tokens it is shown (``/me``, admin routes) against its
own store's keys, not over HTTP: it is the JWKS everyone else fetches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Component, Runtime, create_service, serve
from emporium.chassis.auth import AuthSettings, TokenVerifier
from emporium.services.identity.core import IdentityCore
from emporium.services.identity.routes import router
from emporium.services.identity.settings import IdentitySettings

__all__ = ["create_app", "main"]


def create_app(
    chassis: ChassisSettings | None = None, settings: IdentitySettings | None = None
) -> FastAPI:
    chassis = chassis or ChassisSettings()
    settings = settings or IdentitySettings()
    settings.check(chassis.profile)
    auth = AuthSettings()
    cores: list[IdentityCore] = []

    async def own_jwks() -> Mapping[str, Any]:
        return await cores[0].keys.jwks()

    # A local read is cheap, so look often: a rotated-in key is known at once
    # and a dropped one stops verifying within a second.
    own = auth.model_copy(update={"jwks_ttl_seconds": 1.0, "jwks_min_refresh_seconds": 0.2})
    verifier = TokenVerifier(own, "store:jwks", fetch=own_jwks)

    def components(runtime: Runtime) -> Mapping[str, Component]:
        cores.append(
            IdentityCore(
                runtime.db, settings, auth, profile=chassis.profile, var_dir=chassis.var_dir
            )
        )
        return {"identity": cores[0]}

    return create_service(
        "identity",
        routers=[router],
        settings=chassis,
        database_url=settings.resolved_database_url("identity", chassis.var_dir, chassis.profile),
        components=components,
        auth=verifier,
    )


def main() -> None:
    serve(create_app())
