"""What a shopper does, and how often: Online Boutique's task mix.

Both loops use it: the closed loop's simulated shoppers pick their next task
with these weights (then think), and the open loop picks one per arrival.
Route names are the templates the report groups by.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

__all__ = [
    "ADDRESS",
    "CARD",
    "PASSWORD",
    "ROUTES",
    "TASK_MIX",
    "checkout_body",
    "new_shopper",
    "pick_task",
]

# Online Boutique's loadgenerator: index 1, browse product 10, add to cart 2,
# view cart 3, checkout 1 (every shopper signs in first).
TASK_MIX: dict[str, int] = {
    "home": 1,
    "browse_product": 10,
    "add_to_cart": 2,
    "view_cart": 3,
    "checkout": 1,
}

ROUTES: dict[str, str] = {
    "sign_up": "POST /api/identity/users",
    "sign_in": "POST /api/identity/token",
    "home": "GET /",
    "browse_product": "GET /api/catalog/products/{id}",
    "add_to_cart": "PUT /api/cart/items/{id}",
    "view_cart": "GET /api/cart",
    "checkout": "POST /api/orders",
}
# The services each route's answer waits on (the gateway aside): a chaos report
# holds a fault only against the routes that do not touch its target.
ROUTE_SERVICES: dict[str, frozenset[str]] = {
    ROUTES["sign_up"]: frozenset({"identity"}),
    ROUTES["sign_in"]: frozenset({"identity"}),
    ROUTES["home"]: frozenset({"storefront", "catalog", "identity"}),
    ROUTES["browse_product"]: frozenset({"catalog"}),
    ROUTES["add_to_cart"]: frozenset({"cart", "catalog"}),
    ROUTES["view_cart"]: frozenset({"cart"}),
    ROUTES["checkout"]: frozenset({"orders", "cart", "shipping", "payments"}),
}

ADDRESS = {
    "name": "Load Shopper",
    "line1": "1 Loopback Lane",
    "city": "Localhost",
    "postal_code": "12700",
    "country": "GB",
}
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
PASSWORD = "a long load passphrase 42"


def pick_task(rng: random.Random) -> str:
    return rng.choices(list(TASK_MIX), weights=list(TASK_MIX.values()))[0]


def new_shopper() -> dict[str, str]:
    """A new customer's sign-up body (unique email, no teardown needed)."""
    return {
        "email": f"load-{uuid.uuid4().hex[:16]}@example.test",
        "password": PASSWORD,
        "name": "Load Shopper",
    }


def checkout_body() -> dict[str, Any]:
    return {"shipping_address": ADDRESS, "payment": CARD}
