"""The launcher's table for browser tests: the default one, plus the web shop.

Until the storefront and recommendations have their own lines in the
launcher's ``DEFAULT_TABLE`` this adds them (before the gateway, which starts
last); once they do, it is the default table unchanged. A service whose
package cannot start yet (no ``main`` module) is left out, and the tests that
need it say so.
"""

from __future__ import annotations

import importlib.util

from emporium.launcher.specs import DEFAULT_TABLE, ServiceSpec, ServiceTable

__all__ = ["TABLE", "has_service"]


def _startable(name: str) -> bool:
    try:
        return importlib.util.find_spec(f"emporium.services.{name}.main") is not None
    except ModuleNotFoundError:
        return False


def _with_shop(table: ServiceTable) -> ServiceTable:
    missing = [
        ServiceSpec(name, f"emporium.services.{name}")
        for name in ("recommendations", "storefront")
        if name not in table.names and _startable(name)
    ]
    if not missing:
        return table
    gateways = [spec for spec in table.services if spec.gateway]
    others = [spec for spec in table.services if not spec.gateway]
    return ServiceTable(services=(*others, *missing, *gateways), pre_start=table.pre_start)


TABLE = _with_shop(DEFAULT_TABLE)


def has_service(name: str) -> bool:
    return name in TABLE.names
