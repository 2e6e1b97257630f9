"""Search queries are built from words only, so no input is ever query syntax."""

from __future__ import annotations

import pytest

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
