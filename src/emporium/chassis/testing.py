"""Test fakes every service's tests share: a token issuer with its own JWKS.

``TokenFactory`` signs tokens the way identity does (Ed25519, ``kid``, ``iss``,
``aud``, ``sub``, ``role``, ``exp``) and serves its public keys, so a service's
tests verify real signatures without running identity.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emporium.chassis.auth import AuthSettings, TokenVerifier

__all__ = ["TokenFactory"]


class TokenFactory:
    def __init__(self, settings: AuthSettings | None = None) -> None:
        self.settings = settings or AuthSettings()
        self.kid = uuid.uuid4().hex[:16]
        self.private_key = Ed25519PrivateKey.generate()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key()))
        public.update(kid=self.kid, alg="EdDSA", use="sig")
        return {"keys": [public]}

    def token(
        self,
        user_id: uuid.UUID | None = None,
        *,
        role: str = "customer",
        expires_in: int = 300,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": str(user_id or uuid.uuid4()),
            "role": role,
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "iat": now,
            "exp": now + expires_in,
        }
        payload.update(claims or {})
        return jwt.encode(payload, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})

    def headers(
        self, user_id: uuid.UUID | None = None, *, role: str = "customer"
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id, role=role)}"}

    def verifier(self) -> TokenVerifier:
        async def fetch() -> Mapping[str, Any]:
            return self.jwks()

        return TokenVerifier(self.settings, "memory://jwks", fetch=fetch)
