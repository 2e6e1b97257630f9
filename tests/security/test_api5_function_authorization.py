"""API5:2023 Broken Function Level Authorization: every admin function refuses
a customer (403) and an anonymous caller (401), through the gateway; and the
list below is every admin route the services have, so a new one cannot be
forgotten here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi.routing import APIRoute

from emporium.chassis.auth import AdminUser
from tests.security._routes import served_routes
from tests.security.conftest import Caller, is_problem

pytestmark = [pytest.mark.e2e, pytest.mark.security]

# Fixed, not uuid4(): it is in test ids, which every pytest-xdist worker must
# collect alike.
SOME_ID = "9a4d2e71-6b0c-4f38-a1e5-c7d93b2f0e86"
PRODUCT = {"sku": "SEC-ADMIN-ONLY", "name": "Nope", "price": {"amount": 100, "currency": "USD"}}
MESSAGING_SERVICES = (
    "cart",
    "catalog",
    "inventory",
    "notifications",
    "orders",
    "payments",
    "recommendations",
    "shipping",
)
# (method, path template, path as called, body)
ADMIN_ROUTES: list[tuple[str, str, str, Any]] = [
    ("POST", "/api/catalog/products", "/api/catalog/products", PRODUCT),
    (
        "PATCH",
        "/api/catalog/products/{product_id}",
        f"/api/catalog/products/{SOME_ID}",
        {"name": "X"},
    ),
    ("DELETE", "/api/catalog/products/{product_id}", f"/api/catalog/products/{SOME_ID}", None),
    ("PUT", "/api/catalog/categories/{slug}", "/api/catalog/categories/sec-test", {"name": "X"}),
    ("GET", "/api/identity/users", "/api/identity/users", None),
    ("POST", "/api/identity/keys/rotate", "/api/identity/keys/rotate", None),
    ("PUT", "/api/inventory/items/{sku}", "/api/inventory/items/SEC-X", {"on_hand": 1}),
    ("GET", "/api/inventory/items", "/api/inventory/items", None),
    (
        "GET",
        "/api/inventory/reservations/{order_id}",
        f"/api/inventory/reservations/{SOME_ID}",
        None,
    ),
    ("GET", "/api/payments", "/api/payments", None),
    ("GET", "/api/orders/admin/sagas", "/api/orders/admin/sagas", None),
    *[
        (
            "POST",
            f"/api/orders/admin/sagas/{{order_id}}/{action}",
            f"/api/orders/admin/sagas/{SOME_ID}/{action}",
            None,
        )
        for action in ("compensate", "retry")
    ],
    # Every service with messaging: its dead letters, listed and replayed.
    *[
        route
        for service in MESSAGING_SERVICES
        for route in (
            ("GET", f"/api/{service}/admin/deadletters", f"/api/{service}/admin/deadletters", None),
            (
                "POST",
                f"/api/{service}/admin/deadletters/{{letter_id}}/replay",
                f"/api/{service}/admin/deadletters/1/replay",
                None,
            ),
        )
    ],
]
# Admin-only by a parameter or at the edge rather than by the route's dependency.
OTHER_ADMIN_CALLS = [
    ("GET", "/api/orders?scope=all", None),
    ("GET", "/api/gateway/upstreams", None),
]


def _requires_admin(route: APIRoute) -> bool:
    wanted = get_args(AdminUser)[1].dependency
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if dependency.call is wanted:
            return True
        stack.extend(dependency.dependencies)
    return False


def test_the_admin_route_list_is_every_route_that_requires_an_admin(tmp_path: Path) -> None:
    served = served_routes(tmp_path)
    assert len(served) > 40  # the walk found the services' routes
    found = {
        (method, served_route.path)
        for served_route in served
        if isinstance(served_route.route, APIRoute) and _requires_admin(served_route.route)
        for method in served_route.methods
    }
    assert found == {(method, template) for method, template, _path, _body in ADMIN_ROUTES}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [(m, p, b) for m, _t, p, b in ADMIN_ROUTES] + OTHER_ADMIN_CALLS,
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_customer_gets_403_and_an_anonymous_caller_401_from_every_admin_function(
    caller: Caller, method: str, path: str, body: Any
) -> None:
    customer = caller.customer()
    as_customer = caller.http.request(method, path, json=body, headers=customer)
    assert is_problem(as_customer, 403), (as_customer.status_code, as_customer.text[:200])
    anonymous = caller.http.request(method, path, json=body)
    assert is_problem(anonymous, 401), (anonymous.status_code, anonymous.text[:200])


def test_an_admin_is_let_through_the_same_functions(caller: Caller) -> None:
    admin = caller.admin()
    for path in (
        "/api/identity/users",
        "/api/payments",
        "/api/inventory/items",
        "/api/orders?scope=all",
        "/api/gateway/upstreams",
    ):
        assert caller.http.get(path, headers=admin).status_code == 200, path
