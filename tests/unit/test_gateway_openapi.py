"""Merging the services' OpenAPI documents."""

from __future__ import annotations

from typing import Any

from emporium.services.gateway.openapi import merge_openapi


def service_doc(service: str, schemas: dict[str, Any], ref: str) -> dict[str, Any]:
    response = {"content": {"application/json": {"schema": {"$ref": ref}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": service, "version": "1", "description": f"the {service}"},
        "paths": {f"/api/{service}/x": {"get": {"responses": {"200": response}}}},
        "components": {"schemas": schemas},
    }


def test_paths_and_schemas_of_all_services_are_merged() -> None:
    money = {"type": "object", "properties": {"amount": {"type": "integer"}}}
    merged = merge_openapi(
        {
            "catalog": service_doc(
                "catalog",
                {"Product": {"type": "object"}, "Money": money},
                "#/components/schemas/Product",
            ),
            "cart": service_doc("cart", {"Money": money}, "#/components/schemas/Money"),
        },
        unavailable=["orders"],
    )
    assert set(merged["paths"]) == {"/api/cart/x", "/api/catalog/x"}
    assert set(merged["components"]["schemas"]) == {"Money", "Product"}
    assert merged["x-emporium-unavailable"] == ["orders"]
    assert [tag["name"] for tag in merged["tags"]] == ["cart", "catalog"]


def test_conflicting_schemas_are_renamed_and_their_refs_rewritten() -> None:
    ref = "#/components/schemas/Item"
    merged = merge_openapi(
        {
            "cart": service_doc("cart", {"Item": {"type": "object", "title": "cart"}}, ref),
            "orders": service_doc("orders", {"Item": {"type": "object", "title": "order"}}, ref),
        }
    )
    schemas = merged["components"]["schemas"]
    assert schemas["Item"]["title"] == "cart"
    assert schemas["orders.Item"]["title"] == "order"
    get = merged["paths"]["/api/orders/x"]["get"]
    schema = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/orders.Item"}
    assert "x-emporium-unavailable" not in merged
