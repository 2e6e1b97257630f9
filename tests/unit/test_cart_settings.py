"""Cart's store choice: Redis when configured, else SQL; a missing URL names itself."""

from __future__ import annotations

import pytest

from emporium.chassis.settings import ConfigurationError
from emporium.services.cart.settings import CartSettings


def test_a_redis_url_selects_redis_unless_sql_is_chosen() -> None:
    assert CartSettings(redis_url="redis://r:6379/0").uses_redis
    assert not CartSettings(redis_url="redis://r:6379/0", store="sql").uses_redis
    assert not CartSettings().uses_redis


def test_the_redis_store_without_a_url_names_both_settings() -> None:
    with pytest.raises(ConfigurationError, match=r"EMPORIUM_CART_REDIS_URL .*EMPORIUM_CART_STORE"):
        CartSettings(store="redis").resolved_redis_url()
