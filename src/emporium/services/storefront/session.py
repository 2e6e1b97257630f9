"""The shopper's session: an encrypted cookie, and the middleware that keeps it.

The storefront owns no data, so the session lives entirely in the cookie: the
CSRF token, who is signed in, and the tokens the storefront needs to call the
API on their behalf. It is sealed with Fernet (AES-128-CBC + HMAC-SHA256), so
the browser can neither read the tokens nor forge a session; a cookie older
than ``max_age`` or sealed with an unknown key reads as a fresh anonymous one.

The cookie is ``HttpOnly`` (scripts never see it), ``SameSite=Lax`` (other
sites cannot post with it) and ``Secure`` when the shopper came over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, Literal

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "COOKIE_NAME",
    "Session",
    "SessionCodec",
    "SessionMiddleware",
    "SignedInUser",
    "session_of",
]

logger = logging.getLogger(__name__)

COOKIE_NAME = "emporium_session"
_SCOPE_KEY = "emporium.session"


@dataclass(frozen=True, slots=True)
class SignedInUser:
    id: str
    email: str
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass
class Session:
    """One visitor's state. Any change marks it ``modified``, so the cookie is rewritten."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    user: SignedInUser | None = None
    access_token: str = ""
    refresh_token: str = ""
    # When the access token expires, in seconds since the epoch.
    expires_at: float = 0.0
    modified: bool = False
    is_new: bool = True

    @property
    def csrf_token(self) -> str:
        # A form is about to carry this token: the cookie must hold it too.
        if self.is_new:
            self.modified = True
        return self.csrf

    def csrf_matches(self, token: str) -> bool:
        return bool(token) and not self.is_new and hmac.compare_digest(token, self.csrf)

    def sign_in(
        self, user: SignedInUser, access_token: str, refresh_token: str, expires_in: int
    ) -> None:
        # A new CSRF token at sign-in: a token planted before it is worth nothing after.
        self.csrf = secrets.token_urlsafe(32)
        self.user = user
        self.store_tokens(access_token, refresh_token, expires_in)

    def store_tokens(self, access_token: str, refresh_token: str, expires_in: int) -> None:
        self.access_token, self.refresh_token = access_token, refresh_token
        self.expires_at = time.time() + expires_in
        self.modified = True

    def sign_out(self) -> None:
        self.csrf = secrets.token_urlsafe(32)
        self.user = None
        self.access_token = self.refresh_token = ""
        self.expires_at = 0.0
        self.modified = True

    def to_json(self) -> bytes:
        user = None
        if self.user is not None:
            user = [self.user.id, self.user.email, self.user.name, self.user.role]
        document = {
            "v": 1,
            "csrf": self.csrf,
            "user": user,
            "at": self.access_token,
            "rt": self.refresh_token,
            "exp": self.expires_at,
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Session:
        document: dict[str, Any] = json.loads(raw)
        if document.get("v") != 1:
            raise ValueError("unknown session version")
        user = document.get("user")
        return cls(
            csrf=str(document["csrf"]),
            user=SignedInUser(*map(str, user)) if user else None,
            access_token=str(document.get("at", "")),
            refresh_token=str(document.get("rt", "")),
            expires_at=float(document.get("exp", 0.0)),
            is_new=False,
        )


def _fernet_key(secret: str) -> bytes:
    # Fernet wants 32 random bytes; a long secret of any shape is hashed into them.
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


class SessionCodec:
    """Seals and opens session cookies with the configured keys (the first one seals)."""

    def __init__(
        self, keys: list[str], max_age: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        if not keys:
            raise ValueError("a SessionCodec needs at least one key")
        self._fernet = MultiFernet([Fernet(_fernet_key(key)) for key in keys])
        self.max_age = max_age
        self._clock = clock

    def seal(self, session: Session) -> str:
        sealed = self._fernet.encrypt_at_time(session.to_json(), int(self._clock()))
        return sealed.decode("ascii")

    def open(self, cookie: str | None) -> Session:
        """The session in ``cookie``, or a new anonymous one if it is absent or not ours."""
        if not cookie:
            return Session()
        try:
            opened = self._fernet.decrypt_at_time(
                cookie.encode("ascii"), self.max_age, int(self._clock())
            )
            return Session.from_json(opened)
        except (InvalidToken, ValueError, KeyError, TypeError, UnicodeError):
            # Expired, tampered with, or sealed by a retired key: start afresh.
            return Session()


def session_of(connection: HTTPConnection) -> Session:
    session: Session = connection.scope[_SCOPE_KEY]
    return session


def _cookie(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header is the browser's problem
                return None
            morsel = jar.get(COOKIE_NAME)
            if morsel is not None:
                return morsel.value
    return None


def _https(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    # The gateway sets this itself and drops any value the client sent.
    return any(
        name == b"x-forwarded-proto" and value.strip().lower() == b"https"
        for name, value in scope["headers"]
    )


class SessionMiddleware:
    """Opens the session before the app runs and writes the cookie back if it changed."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        codec: SessionCodec,
        secure: Literal["auto", "always", "never"] = "auto",
    ) -> None:
        self.app = app
        self.codec = codec
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = self.codec.open(_cookie(scope))
        scope[_SCOPE_KEY] = session

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.modified:
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", self._set_cookie(scope, session).encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _set_cookie(self, scope: Scope, session: Session) -> str:
        parts = [
            f"{COOKIE_NAME}={self.codec.seal(session)}",
            "Path=/",
            f"Max-Age={self.codec.max_age}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if self.secure == "always" or (self.secure == "auto" and _https(scope)):
            parts.append("Secure")
        return "; ".join(parts)
