"""Rebuild the graph and the catalog facts from the orders and catalog APIs.

A store that has never been backfilled (a new instance, or a store wiped on
purpose) reads every product through catalog's public list and every order
through orders' admin list, and counts each confirmed order as its event would
have. Everything it writes goes through the store's rules (an order counts
once by id; any catalog event overrides what a backfill read), so it may run
while events arrive, twice, or on two replicas at once, and ends where an
instance fed by events all along would be. See docs/decisions/0014-recommendations.md.

Run on start by :class:`Backfiller` (a chassis component), or by hand:
``python -m emporium.services.recommendations.backfill``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from emporium.chassis import ChassisSettings, Database
from emporium.chassis.http import Response, ServiceClient, UpstreamFailure
from emporium.chassis.logging import configure_logging
from emporium.chassis.periodic import Periodic
from emporium.services.recommendations.repository import (
    BACKFILL,
    ProductFacts,
    RecommendationStore,
)
from emporium.services.recommendations.settings import RecommendationsSettings
from emporium.services.recommendations.stores import make_store

__all__ = ["Backfill", "BackfillError", "Backfiller", "Counts", "main"]

logger = logging.getLogger(__name__)

# Every order that reached CONFIRMED published OrderConfirmed, even if it was
# shipped or cancelled (refunded) later.
_CONFIRMED = "CONFIRMED"

_M = TypeVar("_M", bound=BaseModel)


class BackfillError(RuntimeError):
    """An upstream refused or answered something unusable; the backfill is retried."""


class _ProductIn(BaseModel):
    id: UUID
    categories: list[str] = []


class _LineIn(BaseModel):
    product_id: UUID


class _StepIn(BaseModel):
    status: str


class _OrderIn(BaseModel):
    id: UUID
    status: str
    items: list[_LineIn]
    history: list[_StepIn] = []

    @property
    def confirmed(self) -> bool:
        return self.status == _CONFIRMED or any(s.status == _CONFIRMED for s in self.history)


@dataclass(frozen=True)
class Counts:
    products: int
    orders: int


class Backfill:
    """One pass over catalog and orders into ``store``; safe to repeat."""

    def __init__(
        self,
        store: RecommendationStore,
        database: Database,
        *,
        identity: ServiceClient,
        catalog: ServiceClient,
        orders: ServiceClient,
        admin_email: str,
        admin_password: str,
        page_size: int = 100,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.changed = changed
        self.database = database
        self.identity = identity
        self.catalog = catalog
        self.orders = orders
        self.admin_email = admin_email
        self.admin_password = admin_password
        self.page_size = page_size
        self._token: str | None = None

    @classmethod
    def from_settings(
        cls,
        store: RecommendationStore,
        database: Database,
        chassis: ChassisSettings,
        settings: RecommendationsSettings,
        *,
        changed: Callable[[], None] = lambda: None,
    ) -> Backfill:
        def client(name: str, url: str) -> ServiceClient:
            route = chassis.route(name, url)
            return ServiceClient(route.url, name=name, timeout=10.0, endpoints=route.endpoints)

        return cls(
            store,
            database,
            identity=client("identity", settings.identity_url),
            catalog=client("catalog", settings.catalog_url),
            orders=client("orders", settings.orders_url),
            admin_email=settings.admin_email,
            admin_password=settings.admin_password,
            page_size=settings.backfill_page_size,
            changed=changed,
        )

    async def close(self) -> None:
        for client in (self.identity, self.catalog, self.orders):
            await client.close()

    async def run(self) -> Counts:
        """Read everything, write it through the store's rules, then mark the store."""
        products = 0
        async for item in self._pages(self.catalog, "/api/catalog/products", {}, {}):
            product = _parse(_ProductIn, item)
            facts = ProductFacts(product.id, tuple(product.categories), BACKFILL)
            await self._write(self.store.learn_product, facts)
            products += 1
        orders = 0
        auth = {"Authorization": f"Bearer {await self._admin_token()}"}
        async for item in self._pages(self.orders, "/api/orders", {"scope": "all"}, auth):
            order = _parse(_OrderIn, item)
            if not order.confirmed:
                # Pending (or cancelled before confirmation): its OrderConfirmed,
                # if it ever comes, arrives as an event, since this service's
                # consumers were started before the backfill.
                continue
            products_of = [line.product_id for line in order.items]
            await self._write(self.store.add_order, order.id, products_of)
            orders += 1
        await self.store.mark_backfilled()
        logger.info("backfill done: %d product(s), %d confirmed order(s)", products, orders)
        return Counts(products, orders)

    async def _write(self, effect: Callable[..., Awaitable[object]], *args: object) -> None:
        """One write in its own transaction, as a consumer would make it."""
        try:
            async with self.database.unit_of_work() as uow:
                await effect(uow, *args)
                uow.after_commit(self.changed)
                await uow.commit()
        except IntegrityError:
            # A consumer wrote the same order or product at the same moment;
            # what it wrote is at least as new as what was read here.
            logger.debug("backfill: %s already written by a consumer", args[0])

    async def _admin_token(self) -> str:
        """The admin's access token, kept across passes until orders refuses it:
        a pass retried every few seconds must not log in every time (each
        login costs identity a deliberately slow password hash)."""
        if self._token is None:
            self._token = await self._login()
        return self._token

    async def _login(self) -> str:
        body = {"email": self.admin_email, "password": self.admin_password}
        response = await self.identity.post("/api/identity/token", json=body)
        if response.status != 200:
            raise BackfillError(
                f"identity refused the admin login for {self.admin_email} ({response.status}): "
                "check EMPORIUM_ADMIN_PASSWORD"
            )
        answer = _json(response, "identity's token answer")
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise BackfillError("identity's token answer has no access_token")
        return token

    async def _pages(
        self,
        client: ServiceClient,
        path: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> AsyncIterator[Mapping[str, Any]]:
        # Offset paging over a list that may grow meanwhile: an item may come
        # twice (harmless, every write is idempotent), and what is created after
        # the page was read arrives as an event.
        offset = 0
        while True:
            query = {**params, "limit": str(self.page_size), "offset": str(offset)}
            response = await client.get(path, params=query, headers=headers)
            if response.status == 401:
                self._token = None  # expired: the next pass logs in again
            if response.status != 200:
                raise BackfillError(f"{client.name} answered {response.status} for {path}")
            page = _json(response, f"{client.name}'s {path} answer")
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise BackfillError(f"{client.name}'s {path} answer has no items list")
            for item in items:
                yield item
            offset += len(items)
            if not items or offset >= int(page.get("total", offset)):
                return


def _json(response: Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise BackfillError(f"{what} is not JSON") from exc


def _parse(model: type[_M], item: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        raise BackfillError(f"an unusable {model.__name__.strip('_')}: {exc}") from exc


class Backfiller(Periodic):
    """A chassis component: backfills its store once, on start, if never done.

    Started after messaging, so events published from then on reach this
    service's consumers while the backfill reads what came before. A failed
    pass (orders or identity not up yet) is tried again every ``interval``
    seconds; readiness never waits for it, since the service answers (with
    what it knows so far) meanwhile.
    """

    done = "backfilled %d item(s)"

    def __init__(self, backfill: Backfill, *, interval: float) -> None:
        super().__init__(name="recommendations-backfill", interval=interval)
        self.backfill = backfill
        self._finished = False

    async def run_once(self) -> int:
        if self._finished:
            return 0
        if await self.backfill.store.backfilled():
            self._finished = True
            return 0
        try:
            counts = await self.backfill.run()
        except (BackfillError, UpstreamFailure) as exc:
            logger.warning("backfill failed, will retry: %s", exc)
            return 0
        self._finished = True
        return counts.products + counts.orders

    async def stop(self) -> None:
        await super().stop()
        await self.backfill.close()


async def _backfill_once(chassis: ChassisSettings, settings: RecommendationsSettings) -> Counts:
    database = Database(
        settings.resolved_database_url("recommendations", chassis.var_dir, chassis.profile)
    )
    await database.create_all()
    store = make_store(settings, database)
    await store.start()
    backfill = Backfill.from_settings(store, database, chassis, settings)
    try:
        return await backfill.run()
    finally:
        await backfill.close()
        await store.stop()
        await database.dispose()


def main() -> None:
    """Backfill the configured store now, whether or not it was backfilled before."""
    chassis = ChassisSettings()
    settings = RecommendationsSettings()
    instance = "recommendations-backfill"
    configure_logging("recommendations", instance, level=chassis.log_level, fmt=chassis.log_format)
    asyncio.run(_backfill_once(chassis, settings))


if __name__ == "__main__":
    main()
