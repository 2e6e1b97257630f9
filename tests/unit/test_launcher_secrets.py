"""Secrets never printed: every URL shown has its password masked."""

from __future__ import annotations

from emporium.launcher.secrets import mask_text, mask_url


def test_a_url_with_a_password_is_shown_masked() -> None:
    assert mask_url("amqp://guest:guest@127.0.0.1:5672/") == "amqp://guest:***@127.0.0.1:5672/"
    assert (
        mask_url("postgresql+asyncpg://shop:s3cret@db:5432/orders")
        == "postgresql+asyncpg://shop:***@db:5432/orders"
    )


def test_a_url_without_a_password_is_shown_as_it_is() -> None:
    assert mask_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_every_server_of_a_cluster_list_is_masked() -> None:
    assert mask_url("nats://a:p1@n1:4222,nats://b:p2@n2:4222") == (
        "nats://a:***@n1:4222,nats://b:***@n2:4222"
    )


def test_urls_inside_an_error_message_are_masked() -> None:
    text = "cannot connect to mysql+aiomysql://shipping:hunter2@mariadb:3306/shipping: refused"
    assert "hunter2" not in mask_text(text)
    assert "shipping:***@mariadb" in mask_text(text)
