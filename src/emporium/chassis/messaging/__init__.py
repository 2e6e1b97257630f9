"""Broker-agnostic messaging: outbox, relay, consumers with inbox, dead letters.

The same code runs on NATS JetStream (``nats://``) and RabbitMQ
(``amqp://``); the broker URL alone chooses. See ``docs/decisions/0003-messaging.md``.
"""

from emporium.chassis.backoff import Backoff
from emporium.chassis.messaging import context
from emporium.chassis.messaging.bus import (
    Listener,
    Listening,
    Messaging,
    make_transport,
    messaging_tables,
)
from emporium.chassis.messaging.consumer import Consumer, ConsumerSpec, Handler
from emporium.chassis.messaging.envelope import Envelope, PoisonMessageError, decode, encode
from emporium.chassis.messaging.inbox import INBOX, Inbox, InboxPruner, make_inbox_table
from emporium.chassis.messaging.outbox import OUTBOX, Outbox, make_outbox_table
from emporium.chassis.messaging.relay import OutboxRelay

__all__ = [
    "INBOX",
    "OUTBOX",
    "Backoff",
    "Consumer",
    "ConsumerSpec",
    "Envelope",
    "Handler",
    "Inbox",
    "InboxPruner",
    "Listener",
    "Listening",
    "Messaging",
    "Outbox",
    "OutboxRelay",
    "PoisonMessageError",
    "context",
    "decode",
    "encode",
    "make_inbox_table",
    "make_outbox_table",
    "make_transport",
    "messaging_tables",
]
