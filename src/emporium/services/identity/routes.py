"""identity's HTTP API: registration, tokens, the caller, admin listing, key rotation, JWKS."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from emporium.chassis import Problem, Runtime
from emporium.chassis.auth import AdminUser, CurrentUser
from emporium.chassis.openapi import Offset
from emporium.chassis.problems import problem_responses
from emporium.services.identity.core import IdentityCore
from emporium.services.identity.models import User
from emporium.services.identity.schemas import (
    KeyRotated,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserList,
    UserOut,
)
from emporium.services.identity.tokens import IssuedTokens, RefreshRejected

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter()

# One message for an unknown email and a wrong password: no account enumeration.
BAD_CREDENTIALS = "The email or password is incorrect"


def _core(request: Request) -> IdentityCore:
    runtime: Runtime = request.app.state.runtime
    return runtime.get(IdentityCore)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="emporium"'})


def _user_out(user: User) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


def _token_response(tokens: IssuedTokens, response: Response) -> TokenResponse:
    response.headers["Cache-Control"] = "no-store"
    return TokenResponse(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
    )


@router.post(
    "/api/identity/users", status_code=201, response_model=UserOut, responses=problem_responses(409)
)
async def register(body: RegisterRequest, request: Request) -> UserOut:
    core = _core(request)
    password_hash = await core.passwords.hash(body.password)
    async with core.database.unit_of_work() as uow:
        # The role is fixed here, never taken from the body.
        user = User(email=body.email, name=body.name, role="customer", password_hash=password_hash)
        uow.session.add(user)
        try:
            await uow.commit()
        except IntegrityError:
            raise Problem(409, "An account with this email already exists") from None
    logger.info("registered user %s", user.id)
    return _user_out(user)


@router.post("/api/identity/token", response_model=TokenResponse, responses=problem_responses(401))
async def token(body: LoginRequest, request: Request, response: Response) -> TokenResponse:
    core = _core(request)
    await core.lockout.check(body.email)  # 429 while this email is backing off
    async with core.database.session() as session:
        user = await session.scalar(select(User).where(User.email == body.email))
    # Verify even when there is no such user (against a dummy hash): same time.
    if not await core.passwords.verify(user.password_hash if user else None, body.password):
        await core.lockout.failed(body.email)
        raise _unauthorized(BAD_CREDENTIALS)
    assert user is not None
    await core.lockout.succeeded(body.email)
    if core.passwords.needs_rehash(user.password_hash):
        await _rehash(core, user.id, body.password)
    return _token_response(await core.tokens.issue(user), response)


async def _rehash(core: IdentityCore, user_id: str, password: str) -> None:
    # Parameters changed since this hash was made: upgrade it while we know the password.
    new_hash = await core.passwords.hash(password)
    async with core.database.unit_of_work() as uow:
        stored = await uow.session.get(User, user_id)
        if stored is not None:
            stored.password_hash = new_hash
            await uow.commit()


@router.post(
    "/api/identity/token/refresh", response_model=TokenResponse, responses=problem_responses(401)
)
async def refresh(body: RefreshRequest, request: Request, response: Response) -> TokenResponse:
    try:
        tokens = await _core(request).tokens.refresh(body.refresh_token)
    except RefreshRejected as exc:
        raise _unauthorized(str(exc)) from None
    return _token_response(tokens, response)


@router.post("/api/identity/logout", status_code=204)
async def logout(body: RefreshRequest, request: Request) -> Response:
    await _core(request).tokens.revoke(body.refresh_token)
    return Response(status_code=204)


@router.get("/api/identity/me", response_model=UserOut)
async def me(user: CurrentUser, request: Request) -> UserOut:
    async with _core(request).database.session() as session:
        stored = await session.get(User, str(user.user_id))
    if stored is None:
        raise _unauthorized("This account no longer exists")
    return _user_out(stored)


@router.get("/api/identity/users", response_model=UserList)
async def list_users(
    _admin: AdminUser,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> UserList:
    async with _core(request).database.session() as session:
        total = await session.scalar(select(func.count()).select_from(User)) or 0
        rows = await session.scalars(
            select(User).order_by(User.created_at, User.id).limit(limit).offset(offset)
        )
        return UserList(items=[_user_out(u) for u in rows], total=total)


@router.post("/api/identity/keys/rotate", response_model=KeyRotated)
async def rotate_key(admin: AdminUser, request: Request) -> KeyRotated:
    kid = await _core(request).keys.rotate()
    logger.info("admin %s rotated the signing key", admin.user_id)
    return KeyRotated(kid=kid)


@router.get(
    "/.well-known/jwks.json", summary="The public keys that verify access tokens (RFC 7517)"
)
async def jwks(request: Request, response: Response) -> dict[str, object]:
    response.headers["Cache-Control"] = "public, max-age=60"
    return await _core(request).keys.jwks()
