"""What cart asks catalog: does this product exist, and what are its name, SKU and price."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel, ValidationError

from emporium.chassis import Problem
from emporium.chassis.http import (
    CircuitBreaker,
    RetryPolicy,
    ServiceClient,
)
from emporium.chassis.registry import RegistryEndpoints
from emporium.contracts import Money

__all__ = ["CatalogClient", "ProductSnapshot"]

logger = logging.getLogger(__name__)


class _ProductIn(BaseModel):
    id: UUID
    sku: str
    name: str
    price: Money


@dataclass(frozen=True, slots=True)
class ProductSnapshot:
    product_id: UUID
    sku: str
    name: str
    unit_price: int
    currency: str


class CatalogClient:
    """Catalog behind the chassis :class:`ServiceClient` (timeouts, retries, breaker).

    A chassis component whose readiness never depends on catalog: the cart is
    readable while catalog is down; only adding to it needs catalog.
    """

    def __init__(
        self, base_url: str, *, timeout: float = 1.0, endpoints: RegistryEndpoints | None = None
    ) -> None:
        # Few, quick retries: a user waits on this call, and when catalog is down
        # the breaker opens after a handful of failures and answers at once. It
        # probes at least every second (0.5 s, then 1 s), so catalog is found
        # again within a second of its coming back: one probe a second
        # is nothing to catalog. A product lookup takes milliseconds, so the one
        # shopper whose add probes a catalog still frozen waits 250 ms, not 1 s.
        self.client = ServiceClient(
            base_url,
            name="catalog",
            timeout=timeout,
            retries=RetryPolicy(max_attempts=2, base_delay=0.05, max_delay=0.2, deadline=2.0),
            breaker=CircuitBreaker(failure_threshold=3, max_cooldown=1.0, probe_timeout=0.25),
            endpoints=endpoints,
        )

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.client.close()

    async def ready(self) -> bool:
        return True

    async def product(self, product_id: UUID) -> ProductSnapshot | None:
        """The product as catalog has it now, None if catalog does not know it.

        Raises :class:`Problem` 502 when its answer is unusable; when catalog
        cannot answer, the client's ``UpstreamFailure`` becomes the chassis's
        503 problem with ``Retry-After``.
        """
        response = await self.client.get(f"/api/catalog/products/{product_id}")
        if response.status == 404:
            return None
        if response.status != 200:
            logger.warning("catalog answered %d for product %s", response.status, product_id)
            raise Problem(502, f"The catalog answered {response.status} for this product")
        try:
            product = _ProductIn.model_validate_json(response.content)
        except ValidationError as exc:
            raise Problem(502, "The catalog's answer for this product was not usable") from exc
        if product.id != product_id:
            raise Problem(502, "The catalog answered for another product")
        return ProductSnapshot(
            product.id, product.sku, product.name, product.price.amount, product.price.currency
        )
