"""identity's request and response bodies. Unknown fields are ignored, so a
``role`` in a registration body has no effect."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = [
    "KeyRotated",
    "LoginRequest",
    "RefreshRequest",
    "RegisterRequest",
    "TokenResponse",
    "UserList",
    "UserOut",
]

# Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is
# proven by mail, not by a regular expression.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

# The upper bound caps the argon2 work one request can ask for.
Password = Annotated[str, Field(min_length=8, max_length=128)]


def _normal_email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError("must be an email address like name@example.com")
    return value


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: Annotated[str, Field(max_length=254)]
    password: Password
    name: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"
        ),
    ]

    _email = field_validator("email")(_normal_email)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=128)]

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    role: Literal["customer", "admin"]


class UserList(BaseModel):
    items: list[UserOut]
    total: int


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class KeyRotated(BaseModel):
    kid: str
