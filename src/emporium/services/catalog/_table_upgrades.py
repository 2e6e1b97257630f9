"""Idempotent upgrades of the catalog's store, run inside every ``create_all``.

``create_all`` only creates missing tables. What it cannot express runs here,
right after it, in the same transaction (so the chassis' retry on a start-up
race covers it too):

- the ``image_url`` column, added to stores made before it existed;
- the search index. SQLite: an FTS5 table ``products_fts`` kept in sync with
  ``products`` by triggers, so every write (admin routes, the seed, a manual
  ``UPDATE``) updates the index in its own transaction, and backfilled from rows
  it does not hold yet. PostgreSQL: a stored generated ``tsvector`` column
  (name weighted A, description B) with a GIN index. Other engines get no index
  and search falls back to ``LIKE`` (see :mod:`.search`).

Each step first looks whether it is needed, so the common case (everything in
place) costs a catalog look-up and takes no lock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = ["FTS_TABLE", "TSVECTOR_COLUMN", "upgrade_store"]

FTS_TABLE = "products_fts"
TSVECTOR_COLUMN = "search"
# Porter stems English words ("skillets" finds "skillet"), as PostgreSQL's
# 'english' configuration does, so both engines answer alike.
_FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"

# The category filter looks links up by category; the primary key leads with the product.
_CATEGORY_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_product_categories_category_slug "
    "ON product_categories (category_slug)"
)

_SQLITE_SEARCH = [
    _CATEGORY_INDEX,
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    f"product_id UNINDEXED, name, description, tokenize='{_FTS_TOKENIZER}')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON products BEGIN "
    f"INSERT INTO {FTS_TABLE}(product_id, name, description) "
    "VALUES (new.id, new.name, new.description); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF name, description "
    f"ON products BEGIN DELETE FROM {FTS_TABLE} WHERE product_id = old.id; "
    f"INSERT INTO {FTS_TABLE}(product_id, name, description) "
    "VALUES (new.id, new.name, new.description); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON products BEGIN "
    f"DELETE FROM {FTS_TABLE} WHERE product_id = old.id; END",
    # Rows written before the index existed (a store from an older version).
    f"INSERT INTO {FTS_TABLE}(product_id, name, description) "
    f"SELECT id, name, description FROM products "
    f"WHERE id NOT IN (SELECT product_id FROM {FTS_TABLE})",
]

_POSTGRES_SEARCH = [
    _CATEGORY_INDEX,
    f"ALTER TABLE products ADD COLUMN IF NOT EXISTS {TSVECTOR_COLUMN} tsvector "
    "GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'B')) STORED",
    f"CREATE INDEX IF NOT EXISTS ix_products_{TSVECTOR_COLUMN} "
    f"ON products USING GIN ({TSVECTOR_COLUMN})",
]


def upgrade_store(_metadata: sa.MetaData, connection: sa.Connection, **_kw: Any) -> None:
    """``after_create`` listener on the metadata: bring the store up to date."""
    inspector = sa.inspect(connection)
    if not inspector.has_table("products"):
        return
    columns = {c["name"] for c in inspector.get_columns("products")}
    if "image_url" not in columns:
        connection.exec_driver_sql("ALTER TABLE products ADD COLUMN image_url VARCHAR(500)")
    dialect = connection.dialect.name
    if dialect == "sqlite":
        if not _sqlite_search_ready(connection):
            for statement in _SQLITE_SEARCH:
                connection.exec_driver_sql(statement)
    elif dialect == "postgresql" and TSVECTOR_COLUMN not in columns:
        for statement in _POSTGRES_SEARCH:
            connection.exec_driver_sql(statement)


def _sqlite_search_ready(connection: sa.Connection) -> bool:
    names = set(
        connection.execute(
            sa.text("SELECT name FROM sqlite_master WHERE name LIKE :prefix"),
            {"prefix": f"{FTS_TABLE}%"},
        ).scalars()
    )
    return {FTS_TABLE, f"{FTS_TABLE}_ai", f"{FTS_TABLE}_au", f"{FTS_TABLE}_ad"} <= names
