"""What a Kafka outage costs the bridge and the worker: CPU seconds and log lines while Kafka
is down, and that both carry on once it is back.

A bridge and a worker run on the stack of ``PRECACHE_STACK_*`` (their own queue, topics and
group), traffic flows, then Kafka is stopped for ``--down`` seconds and started again. It stops
Kafka: run it on a private stack only (it refuses the default port 9092).

    PRECACHE_STACK_KAFKA_PORT=9111 ... .venv/bin/python -m bench outage --down 40
"""

import argparse
import asyncio
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from kombu.connection import Connection
from kombu.entity import Exchange
from kombu.messaging import Producer

from bench.support import (
    LOG_DIR,
    WorkerProcess,
    bridge_argv,
    cpu_seconds,
    settings_env,
    table,
    worker_settings,
)
from precache.bridge.settings import BridgeSettings
from precache.stack import StackSettings, start_broker, stop_broker

# a line held back by a rate limit says how many: "(N more like this ...)" or "repeated": N
_HELD = re.compile(rb'\((\d+) more like this|"repeated": (\d+)')


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench outage")
    parser.add_argument("--down", type=float, default=40.0, help="seconds Kafka is stopped")
    return parser.parse_args(argv)


def _lines(log: Path, start: int) -> tuple[int, int, int]:
    """Lines written after byte ``start``, the lines held back they report, bytes."""
    data = log.read_bytes()[start:]
    held = sum(int(a or b) for a, b in _HELD.findall(data))
    return data.count(b"\n"), held, len(data)


def _wait_for_queue(url: str, queue: str, timeout: float = 120) -> None:
    """Until the bridge has declared its queue (what is published before is unroutable)."""
    deadline = time.monotonic() + timeout
    with Connection(url) as conn:
        while True:
            try:
                conn.channel().queue_declare(queue, passive=True)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def _publish(url: str, exchange: str, count: int) -> list[str]:
    """``count`` small versioned notifications through oslo's envelope; their message ids."""
    ids = []
    with Connection(url, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.channel(), Exchange(exchange, "topic", durable=False))
        for _ in range(count):
            message_id = uuid.uuid4().hex
            inner = {
                "message_id": message_id,
                "event_type": "aggregate.cache_images.progress",
                "publisher_id": "nova-conductor:bench",
                "payload": {},
            }
            body = orjson.dumps(
                {"oslo.version": "2.0", "oslo.message": orjson.dumps(inner).decode()}
            )
            producer.publish(
                body,
                routing_key="versioned_notifications.info",
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )
            ids.append(message_id)
    return ids


async def _read_ids(bootstrap: str, topic: str, want: set[str], within: float) -> float:
    """Seconds until every id in ``want`` was read from ``topic``."""
    began = time.monotonic()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        while want and time.monotonic() - began < within:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    want.discard(dict(record.headers).get("message_id", b"").decode())
    finally:
        await consumer.stop()
    if want:
        raise RuntimeError(f"{len(want)} notifications never reached {topic}")
    return time.monotonic() - began


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    args = _parse(argv)
    stack = StackSettings()
    if stack.kafka_port == 9092:
        raise SystemExit("bench outage stops Kafka: set PRECACHE_STACK_* to a private stack")
    bootstrap, url = stack.kafka_bootstrap, stack.amqp_url
    tag = uuid.uuid4().hex[:6]
    bridge = BridgeSettings(
        amqp_url=url,
        kafka_bootstrap=bootstrap,
        exchange=f"bench-outage-{tag}",
        queue=f"bench-outage-{tag}",
        raw_topic=f"bench-outage-{tag}.raw",
        dlq_topic=f"bench-outage-{tag}.dlq",
    )
    worker = WorkerProcess(worker_settings(bootstrap, f"outage-{tag}", log_level="INFO"))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    bridge_log = LOG_DIR / f"bridge-outage-{tag}.log"
    worker.start()
    with bridge_log.open("wb") as out:
        bridge_proc = subprocess.Popen(  # noqa: ASYNC220 - started once, returns at once
            bridge_argv(bridge), stdout=out, stderr=subprocess.STDOUT, env=settings_env(bridge)
        )
    try:
        await asyncio.to_thread(worker.wait_ready)
        await asyncio.to_thread(_wait_for_queue, url, bridge.queue)
        ids = await asyncio.to_thread(_publish, url, bridge.exchange, 100)
        await _read_ids(bootstrap, bridge.raw_topic, set(ids), 120)
        marks = {"bridge": bridge_log.stat().st_size, "worker": worker.log_path.stat().st_size}
        cpu = {"bridge": cpu_seconds(bridge_proc.pid), "worker": cpu_seconds(worker.pid)}
        await asyncio.to_thread(stop_broker, stack, "kafka")
        began = time.monotonic()
        ids = await asyncio.to_thread(_publish, url, bridge.exchange, 100)  # held by the bridge
        await asyncio.sleep(max(0.0, args.down - (time.monotonic() - began)))
        down_s = time.monotonic() - began
        used = {
            "bridge": cpu_seconds(bridge_proc.pid) - cpu["bridge"],
            "worker": cpu_seconds(worker.pid) - cpu["worker"],
        }
        logged = {
            "bridge": _lines(bridge_log, marks["bridge"]),
            "worker": _lines(worker.log_path, marks["worker"]),
        }
        await asyncio.to_thread(start_broker, stack, "kafka")
        recovered_s = await _read_ids(bootstrap, bridge.raw_topic, set(ids), 180)
        alive = {"bridge": bridge_proc.poll() is None, "worker": worker.proc.poll() is None}  # type: ignore[union-attr]
    finally:
        if bridge_proc.poll() is None:
            bridge_proc.terminate()
            bridge_proc.wait(30)
        worker.stop()
        await asyncio.to_thread(start_broker, stack, "kafka")
    rows = [
        [
            name,
            f"{used[name]:.2f}",
            f"{100 * used[name] / down_s:.1f}",
            logged[name][0],
            logged[name][1],
            logged[name][2],
            alive[name],
        ]
        for name in ("bridge", "worker")
    ]
    text = (
        f"Kafka stopped for {down_s:.1f} s; the 100 notifications published meanwhile reached "
        f"Kafka {recovered_s:.1f} s after it was started again\n\n"
        + table(
            [
                "process",
                "CPU s while down",
                "CPU %",
                "log lines",
                "lines held back",
                "log bytes",
                "still running",
            ],
            rows,
        )
    )
    figures = {
        "down_s": round(down_s, 1),
        "recovered_s": round(recovered_s, 1),
        **{f"{n}_cpu_s": round(used[n], 3) for n in used},
        **{f"{n}_log_lines": logged[n][0] for n in logged},
        **{f"{n}_held_lines": logged[n][1] for n in logged},
        **{f"{n}_alive": alive[n] for n in alive},
    }
    return text, figures
