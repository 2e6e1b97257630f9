from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

_REGISTRY: dict[str, type[Message]] = {}


class Message(BaseModel):
    """A message that crosses a service boundary through the broker.

    ``type`` is the stable name on the wire and ``context`` the bounded context
    that owns it; together they make the subject ``emporium.<context>.<type>``.
    ``id`` is what consumers deduplicate on, so a redelivery keeps its id.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: ClassVar[str]
    context: ClassVar[str]
    version: ClassVar[int] = 1

    id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            _REGISTRY[cls.type] = cls

    @classmethod
    def subject(cls) -> str:
        return f"emporium.{cls.context}.{cls.type}"


class IntegrationEvent(Message):
    """Something that happened, named in the past tense (``ProductCreated``)."""


def event_types() -> dict[str, type[Message]]:
    """Every message class defined so far, by its wire ``type``."""
    return dict(_REGISTRY)


def message_types() -> dict[str, type[Message]]:
    """Every message class of the contracts (events, commands, replies), by wire ``type``.

    Unlike :func:`event_types`, complete whatever the caller imported: every
    ``emporium.contracts`` module is imported first.
    """
    package = importlib.import_module(__name__.rpartition(".")[0])
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return dict(_REGISTRY)
