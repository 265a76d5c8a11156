"""Publishing into RabbitMQ while knowing exactly what RabbitMQ accepted.

oslo.messaging's rabbit driver (impl_rabbit, 18.x) opens its kombu connection with
``confirm_publish=True``: a publish returns only once RabbitMQ confirmed it, and raises
otherwise (after its own reconnect-and-retry loop, forever by default for notifications). But
the messagingv2 Notifier catches and logs every exception, so ``Notifier.info`` returning says
nothing. We therefore wrap the transport's ``_send_notification`` (what the Notifier driver
calls for each message): a message_id is recorded as *accepted* only when that call returned,
i.e. RabbitMQ confirmed it. Bodies the Notifier cannot produce are published with kombu and
``confirm_publish=True`` the same way.
"""

import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from kombu.connection import Connection
from kombu.entity import Exchange
from oslo_config import cfg

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import oslo_messaging
    from oslo_messaging._drivers import amqp as oslo_amqp

from precache.simulate.notifier import nova_context, oslo_transport_url

ROUTING_KEY = "versioned_notifications.info"


class Accepted:
    """The message_ids RabbitMQ confirmed, in confirmation order (thread-safe), and the
    Notifier's messages among them (what Nova's bus really carried)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ids: list[str] = []
        self.messages: list[dict[str, Any]] = []

    def add(self, message_id: str, message: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.ids.append(message_id)
            if message is not None:
                self.messages.append(message)

    def __len__(self) -> int:
        return len(self.ids)


@contextmanager
def recording_notifier(
    amqp_url: str, exchange: str, accepted: Accepted, durable: bool = False
) -> Iterator[Any]:
    """oslo's Notifier (messagingv2, Nova's topic) whose confirmed message_ids go to
    ``accepted``; ``durable`` is nova.conf's ``amqp_durable_queues``."""
    drop_default_queue(amqp_url)  # a run that died before its ``finally`` may have left it
    oslo_messaging.set_transport_defaults(control_exchange=exchange)
    conf = cfg.ConfigOpts()
    conf([], project="precache-tests", default_config_files=[], default_config_dirs=[])
    conf.register_opts(oslo_amqp.amqp_opts, group="oslo_messaging_rabbit")
    conf.set_override("amqp_durable_queues", durable, group="oslo_messaging_rabbit")
    transport = oslo_messaging.get_notification_transport(conf, url=oslo_transport_url(amqp_url))
    send = transport._send_notification

    def confirmed_send(
        target: Any, ctxt: Any, message: Any, version: Any, retry: Any = None
    ) -> Any:
        send(target, ctxt, message, version, retry=retry)  # raises unless RabbitMQ confirmed
        accepted.add(message["message_id"], message)

    transport._send_notification = confirmed_send
    try:
        yield oslo_messaging.Notifier(
            transport,
            publisher_id="nova-conductor:fuzz",
            driver="messagingv2",
            topics=["versioned_notifications"],
        )
    finally:
        transport.cleanup()
        drop_default_queue(amqp_url)


def drop_default_queue(amqp_url: str) -> None:
    """Delete the queue oslo's Notifier declares for its topic (``versioned_notifications.info``,
    Nova's default queue): one name in the whole vhost, durable or not as each test's
    ``amqp_durable_queues`` says, so a queue left by a test of the other kind made every
    publish of the next fail (PRECONDITION_FAILED). The tests read queues of their own."""
    with Connection(amqp_url) as conn:
        conn.default_channel.queue_delete(ROUTING_KEY)


def context(request_id: str) -> Any:
    return nova_context(request_id)


def oslo_envelope(message: dict[str, Any]) -> bytes:
    """The body oslo's messagingv2 driver puts on the wire for ``message``."""
    return orjson.dumps({"oslo.version": "2.0", "oslo.message": orjson.dumps(message).decode()})


def inner_message(event_type: str, payload: Any, request_id: Any, **top: Any) -> dict[str, Any]:
    """An inner oslo message as the Notifier builds it (fields overridable, for mutations)."""
    message = {
        "message_id": str(uuid.uuid4()),
        "publisher_id": "nova-conductor:fuzz",
        "event_type": event_type,
        "priority": "INFO",
        "payload": payload,
        "timestamp": "2026-11-23 19:04:24.674505",
        "_context_request_id": request_id,
        "_context_user": "admin",
    }
    message.update(top)
    return message


class RawPublisher:
    """A kombu producer with publisher confirms on one connection (for bodies the Notifier
    cannot produce: a bad timestamp, a non-string request id, a body that is not JSON)."""

    def __init__(self, amqp_url: str, exchange: str, durable: bool = False) -> None:
        self._conn = Connection(amqp_url, transport_options={"confirm_publish": True})
        self._exchange = Exchange(exchange, type="topic", durable=durable, auto_delete=False)
        self._producer: Any = None

    def __enter__(self) -> "RawPublisher":
        self._producer = self._conn.Producer()
        self._exchange(self._producer.channel).declare()
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.release()

    def publish(self, body: bytes) -> None:
        """Returns once RabbitMQ confirmed the message (raises otherwise)."""
        self._producer.publish(
            body,
            exchange=self._exchange,
            routing_key=ROUTING_KEY,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
        )
