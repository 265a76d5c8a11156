"""RabbitMQ for the tests: publish with confirms, look at a queue, delete it."""

import contextlib
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange

from tests.support.messages import ROUTING_KEY, envelope, notification


def publish(
    amqp_url: str,
    exchange: str,
    bodies: Iterable[bytes],
    routing_key: str = ROUTING_KEY,
    durable: bool = False,
) -> None:
    """Publish persistent messages with publisher confirms (each returns once RabbitMQ has it)."""
    with Connection(amqp_url, transport_options={"confirm_publish": True}) as conn:
        target = Exchange(exchange, type="topic", durable=durable, auto_delete=False)
        with conn.Producer() as producer:
            target(producer.channel).declare()
            for body in bodies:
                producer.publish(
                    body,
                    exchange=target,
                    routing_key=routing_key,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                )


def queue_counts(amqp_url: str, queue: str) -> tuple[int, int]:
    """(messages ready, consumers) of an existing queue."""
    with Connection(amqp_url) as conn:
        ok = conn.default_channel.queue_declare(queue, passive=True)
        return int(ok.message_count), int(ok.consumer_count)


def wait_for_consumer(
    amqp_url: str, queue: str, timeout: float = 30, give_up: threading.Event | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (give_up and give_up.is_set()):
        with contextlib.suppress(Exception):
            if queue_counts(amqp_url, queue)[1] > 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nobody consumes {queue} after {timeout}s")


def delete_queue(amqp_url: str, queue: str) -> None:
    with Connection(amqp_url) as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_delete(queue)


class StreamingPublisher:
    """Publishes ``count`` notifications in a thread, retrying through broker restarts.

    ``confirmed`` holds the message_ids RabbitMQ confirmed: the ones the bridge must deliver.
    """

    def __init__(
        self, amqp_url: str, exchange: str, count: int, rate: float = 0, durable: bool = False
    ) -> None:
        self._url, self._exchange, self._count, self._rate = amqp_url, exchange, count, rate
        self._durable = durable
        self.confirmed: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "StreamingPublisher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"publisher not done after {timeout}s"

    def _run(self) -> None:
        aggregate = str(uuid.uuid4())
        pending = [notification(aggregate, i) for i in range(self._count)]
        while pending and not self._stop.is_set():
            try:
                self._publish(pending)
            except Exception:
                time.sleep(0.5)  # broker away: reconnect and send the unconfirmed rest again

    def _publish(self, pending: list[dict[str, Any]]) -> None:
        with Connection(self._url, transport_options={"confirm_publish": True}) as conn:
            target = Exchange(
                self._exchange, type="topic", durable=self._durable, auto_delete=False
            )
            with conn.Producer() as producer:
                target(producer.channel).declare()
                while pending and not self._stop.is_set():
                    message = pending[0]
                    producer.publish(
                        envelope(message),
                        exchange=target,
                        routing_key=ROUTING_KEY,
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                    )
                    self.confirmed.add(message["message_id"])
                    pending.pop(0)
                    if self._rate:
                        time.sleep(1 / self._rate)
