"""Search queries are built from words only, so no input is ever query syntax."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from emporium.services.catalog.models import metadata  # the tables and their upgrade
from emporium.services.catalog.search import MAX_TERMS, Search, words


def test_words_are_letters_and_digits_lower_cased() -> None:
    assert words('Cast-Iron "skillet" OR name:pan*  ÉTÉ 30L_x') == [
        "cast", "iron", "skillet", "or", "name", "pan", "été", "30l", "x",
    ]  # fmt: skip
    assert words("?! ()*") == []
    assert len(words("a " * 100)) == MAX_TERMS


def test_fts5_query_quotes_every_word_and_prefixes_the_last() -> None:
    assert Search(["near", "and"], "sqlite").fts5_query() == '"near" "and"*'


def test_tsquery_ands_the_words_and_prefixes_the_last() -> None:
    assert Search(["cast", "iron"], "postgresql").tsquery() == "cast & iron:*"


def test_a_search_needs_a_word() -> None:
    with pytest.raises(ValueError, match="at least one word"):
        Search([], "sqlite")


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
