"""Accounts: sign up, sign in, sign out, and the shopper's notifications inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from emporium.services.storefront.forms import PostedForm
from emporium.services.storefront.web import api_of, page, redirect, require_user

__all__ = ["router", "safe_next"]

router = APIRouter(prefix="/account", include_in_schema=False)


def safe_next(target: str) -> str:
    """Where to go after signing in: only a path on this site (no open redirect)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@router.get("/signin")
async def signin_form(
    request: Request, next_url: Annotated[str, Query(alias="next")] = "/"
) -> Response:
    return await page(
        request, "signin.html", {"next": safe_next(next_url), "errors": {}, "email": ""}
    )


@router.post("/signin")
async def signin(request: Request, form: PostedForm) -> Response:
    target = safe_next(form["next"] or "/")
    email, password = form["email"], form.raw("password")
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = "Enter your email address"
    if not password:
        errors["password"] = "Enter your password"
    if not errors:
        answer = await api_of(request).sign_in(email, password)
        if answer.status == 200:
            return redirect(target)
        if answer.status == 429:
            errors["password"] = "Too many attempts. Wait a minute, then try again."
        else:
            errors["password"] = "The email or password is incorrect"
    context = {"next": target, "errors": errors, "email": email}
    return await page(request, "signin.html", context, status=400)


@router.get("/signup")
async def signup_form(request: Request) -> Response:
    return await page(request, "signup.html", {"errors": {}, "email": "", "name": ""})


@router.post("/signup")
async def signup(request: Request, form: PostedForm) -> Response:
    email, name, password = form["email"], form["name"], form.raw("password")
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Enter your name"
    if "@" not in email or "." not in email.rpartition("@")[2]:
        errors["email"] = "Enter an email address like name@example.com"
    if len(password) < 8:
        errors["password"] = "Choose a password of at least 8 characters"
    api = api_of(request)
    if not errors:
        created = await api.call(
            "identity",
            "POST",
            "/api/identity/users",
            json={"email": email, "password": password, "name": name},
        )
        if created.status == 201:
            signed_in = await api.sign_in(email, password)
            return redirect("/" if signed_in.status == 200 else "/account/signin")
        if created.status == 409:
            errors["email"] = "An account with this email exists: sign in instead"
        elif created.status == 422:
            errors["email"] = "Check the email address and password"
        else:
            errors["email"] = "We could not create the account; please try again"
    context = {"errors": errors, "email": email, "name": name}
    return await page(request, "signup.html", context, status=400)


@router.post("/signout")
async def signout(request: Request, _form: PostedForm) -> Response:
    await api_of(request).sign_out()
    return redirect("/")


@router.get("/notifications")
async def notifications(request: Request) -> Response:
    require_user(request)
    answer = await api_of(request).as_user("notifications", "GET", "/api/notifications")
    items = answer.json()["items"] if answer.status == 200 else []
    return await page(request, "notifications.html", {"notifications": items})
