"""Bridge throughput on the local stack: raw AMQP, raw Kafka, and the bridge, in one run.

    PRECACHE_STACK_AMQP_PORT=... .venv/bin/python -m bench.bridge_throughput --count 100000

Preloads ``--count`` realistic notifications (the 12-host fixture's progress envelope, each with
a fresh message_id) into a queue declared like the bridge's, then measures:
  (a) kombu consume + multiple-ack of that queue (no processing),
  (b) aiokafka produce of the same inner messages, acks=all, idempotent, pipelined,
  (c) ``precache bridge`` (a separate process) draining a fresh preload of the queue into Kafka,
and prints the three rates, c / min(a, b), the bridge's peak RSS and the machine.
Not a test: the brokers share the machine, so figures vary run to run.
"""

import argparse
import asyncio
import copy
import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.message import Message
from kombu.messaging import Consumer

from bench.machine import BusyCores
from bench.support import bridge_argv
from precache.amqp_connection import kombu_options
from precache.bridge.settings import BridgeSettings
from precache.bridge.topics import ensure_topics
from precache.bridge.topology import declared_queues
from precache.kafka_connection import client_options
from precache.stack import StackSettings

FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "tests"
    / "fixtures"
    / "conductor-cache_images-12hosts.json"
)
ROUTING_KEY = "versioned_notifications.info"


def sample_message() -> dict[str, Any]:
    """A conductor progress notification as Nova emits it (context fields included)."""
    if FIXTURE.exists():
        envelopes = json.loads(FIXTURE.read_text())
        return dict(json.loads(envelopes[1]["oslo.message"]))
    return {
        "message_id": "",
        "publisher_id": "nova-conductor:c1",
        "event_type": "aggregate.cache_images.progress",
        "priority": "INFO",
        "payload": {"nova_object.data": {"uuid": str(uuid.uuid4()), "host": "h1", "index": 1}},
        "timestamp": "2026-11-23 19:04:24.674505",
    }


def bodies(count: int) -> list[bytes]:
    template = sample_message()
    out = []
    for _ in range(count):
        message = copy.copy(template)
        message["message_id"] = str(uuid.uuid4())
        out.append(
            orjson.dumps({"oslo.version": "2.0", "oslo.message": orjson.dumps(message).decode()})
        )
    return out


def preload(settings: BridgeSettings, payloads: list[bytes]) -> float:
    """Declare the bridge's queue and fill it; returns publish rate."""
    began = time.perf_counter()
    with Connection(**kombu_options(settings)) as conn:
        channel = conn.channel()
        for queue in declared_queues(settings):
            queue.bind(channel).declare()
        exchange = Exchange(settings.exchange, type="topic", durable=False)
        with conn.Producer(channel) as producer:
            for body in payloads:
                producer.publish(
                    body,
                    exchange=exchange,
                    routing_key=ROUTING_KEY,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                )
        while ready(conn, settings.queue) < len(payloads):
            time.sleep(0.2)
    return len(payloads) / (time.perf_counter() - began)


def ready(conn: Connection, queue: str) -> int:
    return int(conn.default_channel.queue_declare(queue, passive=True).message_count)


def raw_amqp(settings: BridgeSettings, count: int, prefetch: int, ack_every: int) -> float:
    """(a) kombu: consume and multiple-ack ``count`` messages, nothing else."""
    seen = 0
    last: list[Message] = []

    def on_message(message: Message) -> None:
        nonlocal seen
        seen += 1
        if seen % ack_every == 0 or seen == count:
            message.ack(multiple=True)

    with Connection(settings.amqp_url.get_secret_value()) as conn:
        channel = conn.channel()
        channel.auto_decode = False
        channel.basic_qos(0, prefetch, False)
        queue = Queue(settings.queue, channel=channel, no_declare=True)
        with Consumer(channel, queues=[queue], on_message=on_message):
            began = time.perf_counter()
            while seen < count:
                conn.drain_events(timeout=10)
            took = time.perf_counter() - began
    del last
    return count / took


async def raw_kafka(settings: BridgeSettings, payloads: list[bytes], topic: str) -> float:
    """(b) aiokafka: produce the same inner messages, acks=all, idempotent, pipelined."""
    values = [orjson.dumps(orjson.loads(orjson.loads(b)["oslo.message"])) for b in payloads]
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.linger_ms,
        max_batch_size=settings.max_batch_bytes,
    )
    await producer.start()
    try:
        began = time.perf_counter()
        futures = [
            await producer.send(topic, value, key=b"k%d" % (i % 64))
            for i, value in enumerate(values)
        ]
        await asyncio.gather(*futures)
        took = time.perf_counter() - began
    finally:
        await producer.stop()
    return len(values) / took


async def wait_for_records(settings: BridgeSettings, count: int, pid: int) -> tuple[float, int]:
    """Seconds until the raw topic holds ``count`` records, and the bridge's peak RSS (KiB)."""
    consumer = AIOKafkaConsumer(**client_options(settings))
    await consumer.start()
    tps = [TopicPartition(settings.raw_topic, p) for p in range(settings.raw_partitions)]
    peak_kb = 0
    try:
        began = time.perf_counter()
        while sum((await consumer.end_offsets(tps)).values()) < count:
            peak_kb = max(peak_kb, _rss_peak_kb(pid))
            await asyncio.sleep(0.02)
        return time.perf_counter() - began, max(peak_kb, _rss_peak_kb(pid))
    finally:
        await consumer.stop()


def bridge_drain(settings: BridgeSettings, count: int) -> tuple[float, int, float, float]:
    """(c) ``precache bridge`` process: time from its first consume to ``count`` records."""
    argv = [*bridge_argv(settings), "--log-level=WARNING"]
    process = subprocess.Popen(argv)
    peak_kb = 0
    try:
        with Connection(settings.amqp_url.get_secret_value()) as conn:
            while ready(conn, settings.queue) >= count:
                peak_kb = max(peak_kb, _rss_peak_kb(process.pid))
                time.sleep(0.005)
        cpu_before = _cpu_s(process.pid)
        cores = BusyCores()
        took, peak = asyncio.run(wait_for_records(settings, count, process.pid))
        machine = cores.read()
        cpu_share = (_cpu_s(process.pid) - cpu_before) / took
        peak_kb = max(peak_kb, peak)
    finally:
        process.terminate()
        process.wait(30)
    return count / took, peak_kb, cpu_share, machine


def busy(cores: BusyCores) -> str:
    return f"machine busy {cores.read():.2f} of {os.cpu_count()} cores"


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    return await asyncio.to_thread(measure, argv)


def measure(argv: list[str]) -> tuple[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench bridge", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--prefetch", type=int, default=BridgeSettings().prefetch)
    parser.add_argument("--ack-every", type=int, default=100, help="(a): multiple-ack interval")
    args = parser.parse_args(argv)
    out: list[str] = []
    stack = StackSettings()
    run = uuid.uuid4().hex[:8]
    settings = BridgeSettings(
        amqp_url=stack.amqp_url,
        kafka_bootstrap=stack.kafka_bootstrap,
        exchange=f"bench-nova-{run}",
        queue=f"bench-bridge-{run}",
        raw_topic=f"bench.notifications.{run}",
        dlq_topic=f"bench.notifications.dlq.{run}",
        prefetch=args.prefetch,
    )
    asyncio.run(ensure_topics(settings))
    raw_only = settings.model_copy(update={"raw_topic": f"bench.raw.{run}"})
    asyncio.run(ensure_topics(raw_only))
    payloads = bodies(args.count)
    queue_type = settings.queue_type.value
    out.append(f"payload: {len(payloads[0])} bytes/body, {args.count} messages, {queue_type} queue")
    publish = preload(settings, payloads)
    out.append(f"preload: {publish:,.0f} msg/s")
    cores = BusyCores()
    a = raw_amqp(settings, args.count, args.prefetch, args.ack_every)
    how = f"prefetch {args.prefetch}, ack every {args.ack_every}"
    out.append(f"(a) raw kombu consume+ack ({how}): {a:,.0f} msg/s   {busy(cores)}")
    cores.start()
    b = asyncio.run(raw_kafka(settings, payloads, raw_only.raw_topic))
    out.append(f"(b) raw aiokafka produce acks=all idempotent: {b:,.0f} msg/s   {busy(cores)}")
    preload(settings, payloads)
    c, rss_kb, cpu, machine = bridge_drain(settings, args.count)
    out.append(
        f"(c) bridge drain: {c:,.0f} msg/s   peak RSS {rss_kb / 1024:.0f} MiB   "
        f"bridge CPU {cpu:.0%}   machine busy {machine:.2f} of {os.cpu_count()} cores"
    )
    out.append(f"c / min(a, b) = {c / min(a, b):.2f}")
    with Connection(settings.amqp_url.get_secret_value()) as conn:
        conn.default_channel.queue_delete(settings.queue)
    figures = {
        "raw_kombu_rate": round(a),
        "raw_aiokafka_rate": round(b),
        "bridge_rate": round(c),
        "ratio": round(c / min(a, b), 3),
        "bridge_peak_rss_mib": round(rss_kb / 1024),
        "bridge_cpu_share": round(cpu, 3),
        "machine_busy_cores": round(machine, 2),
    }
    return "\n".join(out), figures
