"""py-amqp's own TCP transport against the bridge's chunked one: consume rate and CPU/message.

    .venv/bin/python -m bench.amqp_transport --count 50000 [--secure]

Preloads the queue and drains it with py-amqp ``basic_consume`` + multiple-ack every 100, once
per transport, twice, alternating. CPU per message is this process's CPU time / messages.
"""

import argparse
import asyncio
import time
import uuid
from typing import Any

from kombu.connection import Connection

from bench.bridge_throughput import bodies, preload
from precache.amqp_connection import kombu_options
from precache.bridge.amqp_transport import KombuTransport
from precache.bridge.settings import BridgeSettings
from precache.stack import StackSettings
from precache.stack.clients import amqp_connection


def drain(options: dict[str, Any], queue: str, count: int, transport: Any) -> tuple[float, float]:
    """(messages/s, CPU microseconds per message) consuming ``count`` messages."""
    seen = 0

    def on_message(message: Any) -> None:
        nonlocal seen
        seen += 1
        if seen % 100 == 0 or seen == count:
            message.channel.basic_ack(message.delivery_info["delivery_tag"], multiple=True)

    chosen = {"transport": transport} if transport else {}
    with Connection(**options, **chosen) as conn:
        conn.connect()
        channel = conn.channel()
        channel.auto_decode = False
        channel.basic_qos(0, 2000, False)
        channel.basic_consume(queue, callback=on_message)
        wall, cpu = time.perf_counter(), time.process_time()
        while seen < count:
            conn.drain_events(timeout=10)
        return count / (time.perf_counter() - wall), (time.process_time() - cpu) / count * 1e6


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    return await asyncio.to_thread(measure, argv)


def measure(argv: list[str]) -> tuple[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench amqp", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--secure", action="store_true", help="TLS: the secure stack (amqps)")
    args = parser.parse_args(argv)
    out: list[str] = []
    figures: dict[str, Any] = {}
    stack = StackSettings().secured(args.secure)
    amqp = amqp_connection(stack)
    options = kombu_options(amqp)
    payloads = bodies(args.count)
    for name, transport in [("py-amqp", None), ("chunked", KombuTransport)] * 2:
        run = uuid.uuid4().hex[:8]
        settings = BridgeSettings(
            **amqp.model_dump(), exchange=f"bench-nova-{run}", queue=f"bench-amqp-{run}"
        )
        preload(settings, payloads)
        rate, cpu_us = drain(options, settings.queue, args.count, transport)
        out.append(f"{name:8} {rate:10,.0f} msg/s  {cpu_us:5.1f} us CPU per message")
        figures.setdefault(name, []).append({"rate": round(rate), "cpu_us": round(cpu_us, 1)})
        with Connection(**options) as conn:
            conn.default_channel.queue_delete(settings.queue)
    return "\n".join(out), figures
