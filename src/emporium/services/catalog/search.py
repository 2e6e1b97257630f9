"""Full-text search over name and description, in relevance order.

User input never reaches a query language as syntax: it is cut into words
(runs of letters and digits), each word is quoted or checked to hold no
operator, all words must match, and the last one also matches as a prefix
("head" finds "headphones") so results follow the user while typing.

- SQLite: FTS5 ``MATCH`` on ``products_fts``, ordered by ``bm25`` with the
  name weighted ten times the description.
- PostgreSQL: ``to_tsquery('english', ...)`` on the generated ``tsvector``
  (name A, description B), ordered by ``ts_rank``.
- anything else: every word ``LIKE`` in name or description, name order.

Ties (and the whole order without ``q``) break on name then id, so paging is
stable: pages concatenate to exactly ``total`` distinct products.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from emporium.services.catalog._table_upgrades import FTS_TABLE, TSVECTOR_COLUMN
from emporium.services.catalog.models import Product

__all__ = ["MAX_TERMS", "Search", "words"]

# Letters and digits of any script; everything else (quotes, operators,
# punctuation, the underscore) separates words.
_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 16
# Name counts ten times the description: a name match outranks a description-only one.
_NAME_WEIGHT, _DESCRIPTION_WEIGHT = 10.0, 1.0

_fts = sa.table(FTS_TABLE, sa.column("product_id"))
_fts_ref: sa.ColumnClause[Any] = sa.literal_column(FTS_TABLE)
_tsvector: sa.ColumnClause[Any] = sa.literal_column(f"products.{TSVECTOR_COLUMN}")


def words(q: str) -> list[str]:
    """The searchable words of ``q``, lower-cased, at most :data:`MAX_TERMS`."""
    return [w.lower() for w in _WORD.findall(q)][:MAX_TERMS]


class Search:
    """A parsed query: adds its filter and relevance order to a product select."""

    def __init__(self, terms: Sequence[str], dialect: str) -> None:
        if not terms:
            raise ValueError("a search needs at least one word")
        self.terms = list(terms)
        self.dialect = dialect

    def fts5_query(self) -> str:
        # Quoted strings are FTS5 phrases: no word can be read as an operator
        # (AND, OR, NOT, NEAR, column filters).
        quoted = [f'"{t}"' for t in self.terms]
        quoted[-1] += "*"
        return " ".join(quoted)

    def tsquery(self) -> str:
        # Words hold only letters and digits, never to_tsquery's & | ! ( ) : * < > '.
        return " & ".join([*self.terms[:-1], f"{self.terms[-1]}:*"])

    def filter(self, query: sa.Select[Any]) -> sa.Select[Any]:
        """Only the products that match (for the page and for the count)."""
        if self.dialect == "sqlite":
            return query.join(_fts, _fts.c.product_id == Product.id).where(
                _fts_ref.op("MATCH")(self.fts5_query())
            )
        if self.dialect == "postgresql":
            return query.where(_tsvector.op("@@")(self._pg_tsquery()))
        for term in self.terms:
            pattern = f"%{term}%"
            query = query.where(
                sa.or_(
                    sa.func.lower(Product.name).like(pattern),
                    sa.func.lower(Product.description).like(pattern),
                )
            )
        return query

    def order(self) -> list[sa.ColumnElement[Any]]:
        """Most relevant first; the caller appends the name/id tie-break."""
        if self.dialect == "sqlite":
            # bm25 is lower for better matches; the weights follow the columns.
            return [sa.func.bm25(_fts_ref, 0.0, _NAME_WEIGHT, _DESCRIPTION_WEIGHT).asc()]
        if self.dialect == "postgresql":
            return [sa.func.ts_rank(_tsvector, self._pg_tsquery()).desc()]
        return []

    def _pg_tsquery(self) -> sa.ColumnElement[Any]:
        return sa.func.to_tsquery(sa.literal_column("'english'::regconfig"), self.tsquery())
