"""The identity service: users, credentials, tokens, signing keys; the chassis does the rest.

identity verifies the tokens it is shown (``/me``, admin routes) against its
own store's keys, not over HTTP: it is the JWKS everyone else fetches.
"""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Runtime, create_service, serve
from emporium.chassis.auth import AuthSettings, TokenVerifier
from emporium.services.identity.core import IdentityCore
from emporium.services.identity.migrations import MIGRATIONS
from emporium.services.identity.passwords import hash_on_the_main_heap
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

    def own_keys(runtime: Runtime) -> TokenVerifier:
        # A local read is cheap, so look often: a rotated-in key is known at
        # once and a dropped one stops verifying within a second.
        own = auth.model_copy(update={"jwks_ttl_seconds": 1.0, "jwks_min_refresh_seconds": 0.2})
        return TokenVerifier(own, "store:jwks", fetch=runtime.get(IdentityCore).keys.jwks)

    return create_service(
        "identity",
        chassis=chassis,
        settings=settings,
        routers=[router],
        migrations=MIGRATIONS,
        components=lambda runtime: {
            "identity": IdentityCore(
                runtime.db, settings, auth, profile=chassis.profile, var_dir=chassis.var_dir
            )
        },
        auth=own_keys,
    )


def main() -> None:
    # Before any thread: hashing threads then share one heap that can be trimmed.
    hash_on_the_main_heap()
    serve(create_app())
