"""Seed the demo catalog: ``python -m emporium.services.catalog.seed``.

Run once by ``emporium up`` before the services start (a Kubernetes Job in
production). Idempotent: products whose SKU exists are left alone. Each new
product's ``ProductCreated`` goes to the outbox in the same transaction, so the
catalog's relay publishes it and inventory creates its stock item.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid

from sqlalchemy import select

from emporium.chassis import ChassisSettings, Database
from emporium.chassis.logging import configure_logging
from emporium.chassis.messaging import Outbox
from emporium.contracts import Money
from emporium.contracts.catalog import ProductCreated
from emporium.services.catalog.demo_data import CATEGORIES, PRODUCTS
from emporium.services.catalog.models import Category, Product, metadata
from emporium.services.catalog.settings import CatalogSettings

logger = logging.getLogger(__name__)


async def seed(database: Database, outbox: Outbox) -> int:
    """Insert the demo categories and products that are missing; return how many products."""
    await database.create_all(metadata)
    async with database.unit_of_work() as uow:
        session = uow.session
        categories = {c.slug: c for c in await session.scalars(select(Category))}
        for slug, name in CATEGORIES.items():
            if slug not in categories:
                categories[slug] = Category(slug=slug, name=name)
                session.add(categories[slug])
        existing = set(await session.scalars(select(Product.sku)))
        created = 0
        for sku, name, description, price, category in PRODUCTS:
            if sku in existing:
                continue
            product = Product(
                id=str(uuid.uuid4()),
                sku=sku,
                name=name,
                description=description,
                price_amount=price,
                currency="USD",
                categories=[categories[category]],
            )
            session.add(product)
            await outbox.add(
                session,
                ProductCreated(
                    product_id=uuid.UUID(product.id),
                    sku=sku,
                    name=name,
                    price=Money(amount=price, currency="USD"),
                    categories=[category],
                ),
            )
            created += 1
        await uow.commit()
    return created


async def _main() -> int:
    chassis = ChassisSettings()
    configure_logging("catalog", "catalog-seed", level=chassis.log_level, fmt=chassis.log_format)
    url = CatalogSettings().resolved_database_url("catalog", chassis.var_dir, chassis.profile)
    database = Database(url)
    try:
        created = await seed(database, Outbox(namespace=chassis.broker_namespace))
    finally:
        await database.dispose()
    logger.info("seeded %d new products (%d in the demo set)", created, len(PRODUCTS))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
