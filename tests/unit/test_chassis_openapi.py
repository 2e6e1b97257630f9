"""A service's OpenAPI document declares every answer the chassis and its routes give."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field, ValidationError

from emporium.chassis import ChassisSettings, create_service
from emporium.chassis.auth import AdminUser, CurrentUser, OptionalUser
from emporium.chassis.openapi import JsonInt, Offset
from emporium.chassis.problems import PROBLEM_JSON, problem_responses
from emporium.services.gateway.openapi import GATEWAY_PROBLEMS, merge_openapi

router = APIRouter()


class Line(BaseModel):
    quantity: JsonInt = Field(ge=0, le=99)


@router.get("/api/demo/things", responses=problem_responses(404))
async def public_read(offset: Offset = 0) -> dict[str, int]:
    return {"offset": offset}


@router.delete("/api/demo/things")
async def admin_write(_admin: AdminUser) -> None:
    return None


@router.put("/api/demo/lines")
async def user_write(line: Line, _user: CurrentUser) -> Line:
    return line


@router.get("/api/demo/maybe")
async def optional_read(_user: OptionalUser) -> None:
    return None


@pytest.fixture
def app() -> FastAPI:
    return create_service("demo", routers=[router], chassis=ChassisSettings(instance="demo-1"))


def _operation(app: FastAPI, path: str, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = app.openapi()["paths"][path][method]
    return operation


def test_every_error_response_is_a_problem_json(app: FastAPI) -> None:
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == [PROBLEM_JSON], (method, path, status)


def test_fastapi_validation_schema_gives_way_to_the_validation_problem(app: FastAPI) -> None:
    document = app.openapi()
    schema = _operation(app, "/api/demo/lines", "put")["responses"]["422"]["content"]
    assert schema[PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/ValidationProblem"}
    assert {"Problem", "ValidationProblem"} <= set(document["components"]["schemas"])
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_a_route_declares_its_own_problems_and_the_chassis_adds_the_common_ones(
    app: FastAPI,
) -> None:
    responses = _operation(app, "/api/demo/things", "get")["responses"]
    assert {"200", "404", "422", "500", "503", "504"} == set(responses)
    with_body = _operation(app, "/api/demo/lines", "put")["responses"]
    assert {"400", "413"} <= set(with_body)


def test_auth_dependencies_document_security_401_and_403(app: FastAPI) -> None:
    admin = _operation(app, "/api/demo/things", "delete")
    assert admin["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(admin["responses"])
    user = _operation(app, "/api/demo/lines", "put")
    assert user["security"] == [{"bearerAuth": []}]
    assert "401" in user["responses"]
    assert "403" not in user["responses"]
    optional = _operation(app, "/api/demo/maybe", "get")
    assert "security" not in optional
    assert "401" in optional["responses"]
    public = _operation(app, "/api/demo/things", "get")
    assert "security" not in public
    assert "401" not in public["responses"]
    schemes = app.openapi()["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"


def test_the_merged_document_adds_the_gateways_answers_and_keeps_security(app: FastAPI) -> None:
    merged = merge_openapi({"demo": app.openapi()})
    responses = merged["paths"]["/api/demo/things"]["get"]["responses"]
    assert {str(status) for status in GATEWAY_PROBLEMS} <= set(responses)
    assert responses["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "bearerAuth" in merged["components"]["securitySchemes"]


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as c:
        yield c


async def test_405_allows_every_method_of_the_path_not_only_the_first_route(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/demo/things")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "DELETE"}


async def test_an_offset_past_the_bound_is_a_422_not_a_store_error(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/api/demo/things?offset=2147483647")).status_code == 200
    assert (await client.get("/api/demo/things?offset=2147483648")).status_code == 422


@pytest.mark.parametrize(("value", "accepted"), [(3, 3), (3.0, 3), ("3", None), (3.5, None)])
def test_json_int_takes_exactly_what_the_schema_calls_an_integer(
    value: object, accepted: int | None
) -> None:
    if accepted is None:
        with pytest.raises(ValidationError):
            Line.model_validate({"quantity": value})
    else:
        assert Line.model_validate({"quantity": value}).quantity == accepted
    assert Line.model_json_schema()["properties"]["quantity"]["type"] == "integer"
