"""Chassis settings and logging: the prod profile refuses placeholders, logs are JSON."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_prod_profile_refuses_placeholder_settings() -> None:
    from emporium.chassis.settings import ConfigurationError, refuse_placeholders

    environ = {
        "EMPORIUM_CATALOG_DATABASE_URL": "postgresql+asyncpg://catalog:CHANGEME@db/catalog",
        "EMPORIUM_BROKER_URL": "nats://nats:4222",
    }
    with pytest.raises(ConfigurationError, match="EMPORIUM_CATALOG_DATABASE_URL"):
        refuse_placeholders("prod", environ)
    refuse_placeholders("local", environ)
    refuse_placeholders("prod", {"EMPORIUM_BROKER_URL": "nats://nats:4222"})


def test_prod_profile_requires_a_database_url() -> None:
    from emporium.chassis import ServiceSettings
    from emporium.chassis.settings import ConfigurationError

    # Refused before any directory is made, so the path need not exist.
    with pytest.raises(ConfigurationError, match="DATABASE_URL must be set"):
        ServiceSettings().resolved_database_url("catalog", Path("/nonexistent/var"), "prod")


def test_library_logs_come_out_as_json_through_the_chassis_handler() -> None:
    import io
    import json
    import logging

    import faststream  # noqa: F401  (installs its own handler at import)

    from emporium.chassis.logging import configure_logging

    configure_logging("demo", "demo-1")
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("faststream").warning("subscriber restarted")
    record = json.loads(stream.getvalue().splitlines()[-1])
    assert record["event"] == "subscriber restarted"
    assert record["service"] == "demo"
    assert not logging.getLogger("faststream").handlers
