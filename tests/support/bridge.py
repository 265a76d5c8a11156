"""The bridge in a test: settings factory type, running it in-process or as `precache bridge`,
and reading its own counts (metrics) while it holds deliveries."""

import asyncio
import contextlib
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bench.support import bridge_argv as bridge_argv  # shared with the benchmarks
from precache.bridge.inflight import InFlightBytes
from precache.bridge.service import Bridge
from precache.bridge.settings import BridgeSettings
from tests.support.amqp import publish, queue_counts, wait_for_consumer

SettingsFactory = Callable[..., BridgeSettings]  # the bridge_settings fixture


def track_peak(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The most bytes the bridge's own count ever reached (checked at every delivery)."""
    peak = [0]
    add = InFlightBytes.add

    def tracking(self: InFlightBytes, tag: int, size: int) -> None:
        add(self, tag, size)
        peak[0] = max(peak[0], self.total)

    monkeypatch.setattr(InFlightBytes, "add", tracking)
    return peak


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


def start_bridge_process(settings: BridgeSettings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(bridge_argv(settings), stdout=out, stderr=subprocess.STDOUT)
