"""Data shared between services: integration events, commands, value types.

Data only: no I/O, no framework. Changes are additive; a breaking change is a
new ``version`` of the message.
"""

from emporium.contracts._base import IntegrationEvent, Message, event_types, message_types
from emporium.contracts.money import Money

__all__ = ["IntegrationEvent", "Message", "Money", "event_types", "message_types"]
