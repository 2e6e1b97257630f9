"""The catalog's SQLite FTS5 index, made as the catalog makes it: no input is query syntax.

Integration, not unit: the index is a real (in-memory) SQLite database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from emporium.services.catalog import models  # noqa: F401  (the tables and their upgrade)
from emporium.services.catalog.models import metadata
from emporium.services.catalog.search import Search, words


@pytest.fixture(scope="module")
def fts() -> Iterator[sa.Connection]:
    """An in-memory store made as the catalog makes its own (FTS5 table and triggers)."""
    engine = sa.create_engine("sqlite://")
    catalog = ["categories", "products", "product_categories"]
    metadata.create_all(engine, tables=[metadata.tables[name] for name in catalog])
    with engine.connect() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO products (id, sku, name, description, price_amount, currency, "
                "created_at, updated_at) VALUES ('p1', 'S1', 'Cast Iron Skillet', "
                "'pre-seasoned pan', 100, 'USD', '2026-01-01', '2026-01-01')"
            )
        )
        yield connection
    engine.dispose()


def _match(connection: sa.Connection, q: str) -> list[str]:
    query = Search(words(q), "sqlite").fts5_query()
    return list(
        connection.execute(
            sa.text("SELECT product_id FROM products_fts WHERE products_fts MATCH :q"), {"q": query}
        ).scalars()
    )


def test_the_index_follows_inserts_and_finds_stems_and_prefixes(fts: sa.Connection) -> None:
    assert _match(fts, "skillets") == ["p1"]
    assert _match(fts, "iron skil") == ["p1"]
    assert _match(fts, "seasoned") == ["p1"]
    assert _match(fts, "wok") == []


@settings(max_examples=500, deadline=None)
@given(q=st.text(min_size=1, max_size=200))
def test_no_text_makes_an_fts5_syntax_error(fts: sa.Connection, q: str) -> None:
    if words(q):
        _match(fts, q)
