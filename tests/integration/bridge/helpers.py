"""Real-broker helpers for the bridge tests: publish into RabbitMQ, read back from Kafka."""

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import ConsumerRecord
from kombu.connection import Connection
from kombu.entity import Exchange

from precache.bridge.inflight import InFlightBytes
from precache.bridge.service import Bridge
from precache.bridge.settings import BridgeSettings

ROUTING_KEY = "versioned_notifications.info"


def notification(aggregate: str, index: int, **extra: Any) -> dict[str, Any]:
    """A Nova aggregate.cache_images.progress notification, as oslo puts it in the envelope."""
    return {
        "message_id": str(uuid.uuid4()),
        "publisher_id": "nova-conductor:test",
        "event_type": "aggregate.cache_images.progress",
        "priority": "INFO",
        "payload": {
            "nova_object.name": "AggregateCachePayload",
            "nova_object.data": {
                "uuid": aggregate,
                "host": f"host{index}",
                "index": index,
                "total": 1000,
                "images_cached": ["img"],
                "images_failed": [],
            },
        },
        "timestamp": "2026-11-23 19:04:24.674505",
        "_context_user": "admin",
        **extra,
    }


def envelope(message: dict[str, Any]) -> bytes:
    return orjson.dumps({"oslo.version": "2.0", "oslo.message": orjson.dumps(message).decode()})


BIG = 40_000  # padding of a large body in the max_in_flight_bytes tests


def bodies(count: int, padding: int = 0) -> tuple[list[bytes], set[str]]:
    aggregate = str(uuid.uuid4())
    extra = {"padding": "x" * padding} if padding else {}
    messages = [notification(aggregate, i, **extra) for i in range(count)]
    return [envelope(m) for m in messages], {m["message_id"] for m in messages}


def track_peak(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The most bytes the bridge's own count ever reached (checked at every delivery)."""
    peak = [0]
    add = InFlightBytes.add

    def tracking(self: InFlightBytes, tag: int, size: int) -> None:
        add(self, tag, size)
        peak[0] = max(peak[0], self.total)

    monkeypatch.setattr(InFlightBytes, "add", tracking)
    return peak


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


def held_by_bridge(amqp_url: str, queue: str, published: int) -> int:
    """Messages RabbitMQ delivered and got no ack for, while nothing is acked: not ready."""
    return published - queue_counts(amqp_url, queue)[0]


async def wait_until_bridge_holds_what_rabbitmq_sent(
    bridge: Bridge, settings: BridgeSettings, published: list[bytes], within: float = 30
) -> int:
    """Once the (not acking) bridge counts every body RabbitMQ sent it: how many it holds.

    ``published``: the bodies in the queue since the bridge last held nothing, in order (a
    queue delivers in order). The bridge's count is its AMQP thread's (the in-flight bytes
    gauge), which goes on while Kafka being away blocks the asyncio side.
    """
    url, queue = settings.amqp_url.get_secret_value(), settings.queue
    deadline = time.monotonic() + within
    while True:
        held = await asyncio.to_thread(held_by_bridge, url, queue, len(published))
        sent = sum(len(body) for body in published[:held])
        if sample(bridge, "precache_bridge_in_flight_bytes") == sent:
            return held
        assert time.monotonic() < deadline, f"the bridge never counted the {held} held"
        await asyncio.sleep(0.1)


async def publish_until_throttled(
    bridge: Bridge, settings: BridgeSettings, bodies: list[bytes], before: list[bytes]
) -> int:
    """Publish ``bodies`` one at a time, each once the (not acking) bridge got the one before,
    until the bytes it holds pass max_in_flight_bytes and it has sent basic.cancel; how many
    were published. ``before``: the bodies it holds already.

    (RabbitMQ's consumer count cannot show the cancel: a quorum queue keeps counting a
    cancelled consumer while it has unacked messages.)
    """
    url, exchange = settings.amqp_url.get_secret_value(), settings.exchange
    count = 0
    while sample(bridge, "precache_bridge_in_flight_bytes") <= settings.max_in_flight_bytes:
        assert count < len(bodies), "never reached max_in_flight_bytes"
        await asyncio.to_thread(publish, url, exchange, bodies[count : count + 1])
        count += 1
        await wait_until_bridge_holds_what_rabbitmq_sent(bridge, settings, before + bodies[:count])
    deadline = time.monotonic() + 30
    while sample(bridge, "precache_bridge_amqp_throttles_total") == 0:
        assert time.monotonic() < deadline, "over max_in_flight_bytes, yet no basic.cancel"
        await asyncio.sleep(0.01)
    return count


def sample(bridge: Bridge, name: str) -> float:
    value = bridge.metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


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


async def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    within: float = 20,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the start, once ``until(records)`` holds (or ``within`` s)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + within
    try:
        while not until(records) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def message_ids(records: Iterable[ConsumerRecord[bytes, bytes]]) -> set[str]:
    return {dict(r.headers)["message_id"].decode() for r in records}


def has_ids(wanted: set[str]) -> Callable[[list[ConsumerRecord[bytes, bytes]]], bool]:
    return lambda records: wanted <= message_ids(records)


@contextlib.asynccontextmanager
async def running_bridge(settings: BridgeSettings) -> AsyncIterator[Bridge]:
    """A bridge in this process, consuming once the block starts; stopped (SIGTERM path) after."""
    bridge = Bridge(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    url, give_up = settings.amqp_url.get_secret_value(), threading.Event()
    ready = asyncio.ensure_future(
        asyncio.to_thread(wait_for_consumer, url, settings.queue_name, 30, give_up)
    )
    await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        give_up.set()
        await asyncio.gather(ready, return_exceptions=True)
        task.result()  # the bridge gave up: raise its error here
    await ready
    try:
        yield bridge
    finally:
        stop.set()
        await asyncio.wait_for(task, settings.shutdown_timeout_s + 5)


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


def bridge_argv(settings: BridgeSettings) -> list[str]:
    """``precache bridge`` with this test's settings, as an operator would start it."""
    return [
        str(Path(sys.executable).parent / "precache"),
        "bridge",
        f"--amqp-url={settings.amqp_url.get_secret_value()}",
        f"--kafka={settings.kafka_bootstrap}",
        f"--exchange={settings.exchange}",
        f"--queue={settings.queue}",
        f"--raw-topic={settings.raw_topic}",
        f"--dlq-topic={settings.dlq_topic}",
        f"--prefetch={settings.prefetch}",
        f"--region={settings.region}",
        f"--{'' if settings.exchange_durable else 'no-'}exchange-durable",
        "--metrics-port=0",
    ]


def start_bridge_process(settings: BridgeSettings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(bridge_argv(settings), stdout=out, stderr=subprocess.STDOUT)


async def create_topic(
    bootstrap: str, name: str, partitions: int = 1, configs: dict[str, str] | None = None
) -> None:
    """A topic as someone else might have created it before the bridge ever ran."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
    finally:
        await admin.close()


async def alter_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    """Change a topic's configuration (what an operator's kafka-configs --alter does)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs)])
    finally:
        await admin.close()
