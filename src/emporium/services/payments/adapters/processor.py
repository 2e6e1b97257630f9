"""The simulated card processor: a vault of tokens and an authorization decision.

It behaves like a payment provider seen through its API: a card becomes an
unguessable token once (:meth:`SimulatedProcessor.tokenize`); later calls name
the token only. The vault keeps, per token, the outcome the test card calls
for, brand, last four digits, expiry and owner, never the number or the CVC.

Calls the saga makes (:meth:`authorize`, :meth:`settle`) can be slowed and made
to fail at a rate (``EMPORIUM_PAYMENTS_LATENCY_MS``, ``..._FAILURE_RATE``) for
demos and chaos: the failure raises inside the message handler, so the chassis
rolls back and retries it like any outage of a real provider.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID

from emporium.services.payments.adapters.repository import CardVault, VaultedCard
from emporium.services.payments.domain import Card, Outcome
from emporium.services.payments.domain.cards import expired

__all__ = ["Decision", "ProcessorUnavailable", "SimulatedProcessor", "StoredCard"]


class ProcessorUnavailable(RuntimeError):
    """The (simulated) provider did not answer; the caller should retry."""


@dataclass(frozen=True)
class StoredCard:
    """What tokenization gives back: safe to show, log and store."""

    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Decision:
    approved: bool
    reason: str = ""
    brand: str = ""
    last4: str = ""


# Declines for tokens the vault cannot honour (names follow common provider codes).
UNKNOWN_TOKEN = "invalid_card_token"
NOT_OWNER = "card_token_not_owned"
EXPIRED_CARD = "expired_card"


class SimulatedProcessor:
    """Stateless but for its vault table, so every replica gives the same answers."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        failure_rate: float = 0.0,
        rng: random.Random | None = None,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        self.latency = latency
        self.failure_rate = failure_rate
        self.rng = rng or random.Random()
        self.today = today

    async def tokenize(
        self, vault: CardVault, card: Card, owner: UUID, now: datetime
    ) -> StoredCard:
        """Vault a card already validated (``Card.validate``) for ``owner``."""
        stored = StoredCard(
            token=f"tok_{secrets.token_urlsafe(24)}",
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )
        await vault.add(
            VaultedCard(
                token=stored.token,
                owner_id=owner,
                outcome=card.outcome.value,
                brand=stored.brand,
                last4=stored.last4,
                exp_month=stored.exp_month,
                exp_year=stored.exp_year,
                created_at=now,
            )
        )
        return stored

    async def authorize(self, vault: CardVault, token: str, user_id: UUID, amount: int) -> Decision:
        """Approve or decline holding ``amount`` on the card behind ``token``."""
        await self._call()
        card = await vault.get(token)
        if card is None:
            return Decision(False, UNKNOWN_TOKEN)
        brand, last4 = card.brand, card.last4
        if card.owner_id != user_id:
            # Someone else's token: refused without revealing its card.
            return Decision(False, NOT_OWNER)
        if expired(card.exp_month, card.exp_year, self.today()):
            return Decision(False, EXPIRED_CARD, brand, last4)
        outcome = Outcome(card.outcome)
        if outcome is not Outcome.APPROVE:
            return Decision(False, outcome.value, brand, last4)
        return Decision(True, "", brand, last4)

    async def settle(self) -> None:
        """A capture, void or refund at the provider: always accepted, but subject
        to the configured latency and failures like any call."""
        await self._call()

    async def _call(self) -> None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self.failure_rate > 0 and self.rng.random() < self.failure_rate:
            raise ProcessorUnavailable("simulated card processor failure (injected)")
