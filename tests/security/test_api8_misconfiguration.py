"""API8:2023 Security Misconfiguration: errors are problems without stack
traces, browser security headers are on every response, CORS answers no
foreign origin, and there are no debug routes or server banners."""

from __future__ import annotations

import pytest

from tests.security.conftest import Caller, is_problem

pytestmark = [pytest.mark.e2e, pytest.mark.security]

LEAKS = ("traceback", 'file "/', '.py"', "sqlalchemy", "site-packages", "exception")


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("POST", "/api/identity/users", b"{not json"),
        ("POST", "/api/identity/token", b'{"email": ["a"], "password": {"x": 1}}'),
        ("POST", "/api/shipping/quotes", b"\xff\xfe\x00garbage"),
        ("GET", "/api/catalog/products/not-a-uuid", None),
        ("GET", "/api/catalog/products?limit=abc", None),
        ("DELETE", "/api/identity/me", None),
        ("GET", "/api/no-such-service/x", None),
    ],
)
def test_bad_requests_get_problems_without_internals(
    caller: Caller, method: str, path: str, content: bytes | None
) -> None:
    response = caller.http.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert is_problem(response, response.status_code)
    assert not any(leak in response.text.lower() for leak in LEAKS), response.text[:300]


def test_every_kind_of_response_carries_the_security_headers(caller: Caller) -> None:
    responses = [
        caller.http.get("/api/catalog/products?limit=1"),
        caller.http.get("/api/identity/me"),
        caller.http.get("/api/nothing/here"),
        caller.http.post("/api/identity/users", json={}),
        caller.http.get("/health/live"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "referrer-policy" in response.headers
        assert "server" not in response.headers
        assert "x-powered-by" not in response.headers


def test_cors_answers_no_foreign_origin(caller: Caller) -> None:
    evil = "https://evil.example"
    preflight = caller.http.options(
        "/api/orders",
        headers={"Origin": evil, "Access-Control-Request-Method": "POST"},
    )
    assert is_problem(preflight, 403)
    assert "access-control-allow-origin" not in preflight.headers
    simple = caller.http.get("/api/catalog/products?limit=1", headers={"Origin": evil})
    assert "access-control-allow-origin" not in simple.headers
    assert "access-control-allow-credentials" not in simple.headers


@pytest.mark.parametrize(
    "path",
    [
        "/debug",
        "/_debug",
        "/api/debug",
        "/.env",
        "/.git/config",
        "/server-status",
        "/api/catalog/debug",
        "/api/identity/admin",
        "/api/catalog/_routes",
    ],
)
def test_there_are_no_debug_routes(caller: Caller, path: str) -> None:
    response = caller.http.get(path)
    assert response.status_code in (401, 404, 405), (path, response.status_code)


def test_the_shops_admin_pages_send_a_visitor_to_sign_in_and_show_nothing(caller: Caller) -> None:
    # /admin is the storefront's admin area (HTML for admins), not a debug route.
    response = caller.http.get("/admin", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/account/signin")
    assert "Stock" not in response.text


def test_trace_does_not_echo_the_request(caller: Caller) -> None:
    secret = "Bearer trace-me-please"
    for path in ("/", "/api/catalog/products"):
        response = caller.http.request("TRACE", path, headers={"Authorization": secret})
        assert response.status_code >= 400
        assert "trace-me-please" not in response.text


def test_no_hsts_is_promised_over_plain_http(caller: Caller) -> None:
    response = caller.http.get(
        "/api/catalog/products?limit=1", headers={"X-Forwarded-Proto": "https"}
    )
    assert "strict-transport-security" not in response.headers
