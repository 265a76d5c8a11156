"""e2e: latency from Nova's last progress notification to ``precache.operation.completed``
read by a consumer, through RabbitMQ -> bridge -> Kafka -> worker -> completed topic, against
a direct RabbitMQ watcher in the same run; with a background load of other notifications.

- ``--ops`` operations (sizes cycling through ``--sizes``, up to 1,000 hosts) are published to
  the ``nova`` exchange as oslo's messaging v2 envelopes (``versioned_notifications.info``),
  paced at ``--rate`` cache_images notifications/s, one operation after the other; a second
  thread publishes other Nova notifications (Nova's own samples) at ``--background`` per second.
- The direct watcher: a queue of its own on the same exchange, counting each aggregate's hosts
  itself (the baseline: what RabbitMQ alone costs).
- precache: ``precache bridge`` and ``precache worker`` processes; a plain aiokafka consumer
  reads the completed topic (and the raw topic, for the breakdown).
- Latency of an operation: from the return of the publish of its last progress notification to
  the moment its completed event (or, for the watcher, its last host) is read.
- Breakdown (medians over the operations, for that last notification): publish -> bridge
  receive (``received_at`` header) -> Kafka append (raw record timestamp; the bench creates the
  raw topic with ``LogAppendTime``) -> worker sends the completed event (its record timestamp,
  the worker producer's create time) -> consumer read (the completed record's append and the
  consumer's fetch). Kafka timestamps are milliseconds.
"""

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import random
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.messaging import Consumer, Producer

from bench.support import (
    LOG_DIR,
    PRECACHE,
    WorkerProcess,
    cpu_seconds,
    proc_status,
    table,
    worker_settings,
)
from bench.synthetic import SyntheticOperation, hostnames, other_message
from precache.pipeline.settings import WorkerSettings
from precache.stack import StackSettings

ROUTING_KEY = "versioned_notifications.info"


def envelope(message: dict[str, Any]) -> bytes:
    return orjson.dumps({"oslo.version": "2.0", "oslo.message": orjson.dumps(message).decode()})


def inner(value: bytes) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(value)
    return message


@dataclass
class Op:
    op: SyntheticOperation
    last_message_id: str = ""
    published: float = 0.0  # after the last progress was published
    watcher: float = 0.0  # the direct watcher counted its last host
    read: float = 0.0  # the completed event was read
    received_at: float = 0.0  # bridge header of the last progress
    appended: float = 0.0  # raw record timestamp (LogAppendTime)
    sent: float = 0.0  # completed record timestamp (worker's create time)


@dataclass
class Watcher:
    """Counts each aggregate's hosts straight from RabbitMQ."""

    expected: dict[str, int] = field(default_factory=dict)
    counted: dict[str, int] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)

    def on_body(self, body: bytes) -> None:
        message = inner(orjson.loads(body)["oslo.message"].encode())
        event_type = message.get("event_type", "")
        if not event_type.startswith("aggregate.cache_images."):
            return
        data = message["payload"]["nova_object.data"]
        agg = data["uuid"]
        if event_type.endswith(".start"):
            self.expected[agg] = len(data["hosts"])
        elif event_type.endswith(".progress"):
            self.counted[agg] = self.counted.get(agg, 0) + 1
            if self.counted[agg] == self.expected.get(agg):
                self.done[agg] = time.time()


def watch(amqp_url: str, queue: Queue, wanted: int, out: "mp.Queue[dict[str, float]]") -> None:
    """The direct watcher, in a process of its own: every aggregate's last-host time."""
    w = Watcher()
    deadline = time.monotonic() + 300
    callbacks = [lambda body, m: w.on_body(m.body)]
    with (
        Connection(amqp_url) as conn,
        Consumer(conn, queues=[queue], no_ack=True, callbacks=callbacks),
    ):
        while len(w.done) < wanted and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError, OSError):
                conn.drain_events(timeout=0.2)
    out.put(w.done)


def background(amqp_url: str, exchange: Exchange, rate: float, stop: threading.Event) -> None:
    rng = random.Random(5)
    with Connection(amqp_url) as conn:
        producer = Producer(conn.channel(), exchange=exchange)
        began, n = time.monotonic(), 0
        while not stop.is_set() and rate > 0:
            producer.publish(envelope(other_message(rng)), routing_key=ROUTING_KEY)
            n += 1
            ahead = n / rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)


def publish_ops(amqp_url: str, exchange: Exchange, ops: list[Op], rate: float) -> None:
    with Connection(amqp_url) as conn:
        producer = Producer(conn.channel(), exchange=exchange)
        began, n = time.monotonic(), 0
        for item in ops:
            op = item.op
            messages = [op.start(), *op.all_progress(), op.end()]
            for i, (_, value, headers) in enumerate(messages):
                producer.publish(envelope(inner(value)), routing_key=ROUTING_KEY)
                if i == len(messages) - 2:  # the last progress: completes the operation (R6)
                    item.published = time.time()
                    item.last_message_id = dict(headers)["message_id"].decode()
                n += 1
                ahead = n / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            time.sleep(0.05)  # operations one after the other, as a quiet region sees them


def read_outputs(s: WorkerSettings, wanted: dict[str, str], out: "mp.Queue[Any]") -> None:
    """The consumer, in a process of its own: when each operation's completed event was read
    (and its worker create time), and the bridge receive and Kafka append times of every
    cache_images record (by message id)."""
    out.put(asyncio.run(_read_outputs(s, wanted, time.monotonic() + 300)))


async def _read_outputs(
    s: WorkerSettings, wanted: dict[str, str], deadline: float
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    completed: dict[str, tuple[float, float]] = {}
    raw: dict[str, tuple[float, float]] = {}
    consumer = AIOKafkaConsumer(
        s.completed_topic, s.raw_topic, bootstrap_servers=s.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        while time.monotonic() < deadline and len(completed) < len(wanted):
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for tp, records in batch.items():
                for r in records:
                    if tp.topic == s.completed_topic:
                        subject = orjson.loads(r.value)["subject"]
                        if subject in wanted and subject not in completed:
                            completed[subject] = (now, r.timestamp / 1000)
                        continue
                    headers = dict(r.headers)
                    if not headers.get("event_type", b"").startswith(b"aggregate.cache_images"):
                        continue
                    mid = headers.get("message_id", b"").decode()
                    received = datetime.fromisoformat(headers["received_at"].decode())
                    raw[mid] = (received.timestamp(), r.timestamp / 1000)
    finally:
        await consumer.stop()
    return completed, raw


async def create_raw_topic(s: WorkerSettings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    await admin.start()
    try:
        configs = {
            "message.timestamp.type": "LogAppendTime",
            "max.message.bytes": str(s.max_record_bytes),
        }
        await admin.create_topics(
            [NewTopic(s.raw_topic, s.raw_partitions, 1, topic_configs=configs)]
        )
    finally:
        await admin.close()


QS = ("p50", "p95", "p99", "max")
INSIDE = {
    "newest record's age when its batch starts (Kafka timestamp -> agent: fetch, hand-over)": (
        "age_ms"
    ),
    "batch: apply, send and confirm its events, send its state": "apply_ms",
}


def start_bridge(amqp_url: str, s: WorkerSettings, exchange: str) -> subprocess.Popen[bytes]:
    tag = s.app_id
    argv = [
        str(PRECACHE), "bridge", f"--amqp-url={amqp_url}", f"--kafka={s.kafka_bootstrap}",
        f"--exchange={exchange}", f"--queue={tag}.bridge", f"--raw-topic={s.raw_topic}",
        f"--dlq-topic={tag}.bridge-dlq", "--region=region-a", "--no-exchange-durable",
        "--metrics-port=0", "--log-level=WARNING",
    ]  # fmt: skip
    with (LOG_DIR / f"{tag}.bridge.log").open("ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


def percentiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": max(values)}


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--sizes", default="10,50,200,1000", help="hosts per operation, cycled")
    parser.add_argument("--rate", type=float, default=2000, help="cache_images notifications/s")
    parser.add_argument("--background", type=float, default=1000, help="other notifications/s")
    args = parser.parse_args(argv)
    stack = StackSettings()
    amqp_url = f"amqp://guest:guest@127.0.0.1:{stack.amqp_port}//"
    s = worker_settings(stack.kafka_bootstrap, "e2e")
    tag = s.app_id
    await create_raw_topic(s)
    exchange = Exchange(f"{tag}.nova", type="topic", durable=False, auto_delete=False)
    watcher_queue = Queue(
        f"{tag}.watcher", exchange, routing_key="versioned_notifications.*", auto_delete=True
    )
    with Connection(amqp_url) as conn:
        exchange(conn.channel()).declare()
        watcher_queue(conn.channel()).declare()

    sizes = [int(x) for x in args.sizes.split(",")]
    ops = [
        Op(SyntheticOperation(hosts=hostnames(sizes[i % len(sizes)], f"h{i}-"), images=["img-1"]))
        for i in range(args.ops)
    ]
    bridge = start_bridge(amqp_url, s, exchange.name)
    worker = WorkerProcess(s).start()
    stop = threading.Event()
    ctx = mp.get_context("spawn")
    watched: mp.Queue[dict[str, float]] = ctx.Queue()
    outputs: mp.Queue[Any] = ctx.Queue()
    wanted = {o.op.operation_id: o.op.aggregate_uuid for o in ops}
    watcher = ctx.Process(target=watch, args=(amqp_url, watcher_queue, len(ops), watched))
    reader = ctx.Process(target=read_outputs, args=(s, wanted, outputs))
    noise = threading.Thread(
        target=background, args=(amqp_url, exchange, args.background, stop), daemon=True
    )
    try:
        await asyncio.to_thread(worker.wait_ready)
        watcher.start()
        reader.start()
        await asyncio.sleep(3)  # the bridge's queue, the watcher and the reader are up
        noise.start()
        await asyncio.sleep(1)
        cpu0 = {"bridge": cpu_seconds(bridge.pid), "worker": cpu_seconds(worker.pid)}
        began = time.monotonic()
        await asyncio.to_thread(publish_ops, amqp_url, exchange, ops, args.rate)
        done_at = await asyncio.to_thread(watched.get, True, 300)
        completed, raw = await asyncio.to_thread(outputs.get, True, 300)
        elapsed = time.monotonic() - began
        cpu = {
            "bridge": cpu_seconds(bridge.pid) - cpu0["bridge"],
            "worker": cpu_seconds(worker.pid) - cpu0["worker"],
        }
        rss = {
            "bridge": proc_status(bridge.pid, "VmHWM"),
            "worker": proc_status(worker.pid, "VmHWM"),
        }
        stats = worker.stats() or {}
    finally:
        stop.set()
        if noise.is_alive():
            noise.join(5)
        for p in (watcher, reader):
            p.join(5)
            if p.is_alive():
                p.kill()
        worker.stop()
        bridge.terminate()
        await asyncio.to_thread(bridge.wait, 30)
    for o in ops:
        o.watcher = done_at.get(o.op.aggregate_uuid, 0.0)
        o.read, o.sent = completed.get(o.op.operation_id, (0.0, 0.0))
        o.received_at, o.appended = raw.get(o.last_message_id, (0.0, 0.0))
    done = [o for o in ops if o.read and o.watcher]
    ms = 1000.0
    precache = percentiles([(o.read - o.published) * ms for o in done])
    direct = percentiles([(o.watcher - o.published) * ms for o in done])
    staged = [o for o in done if o.received_at and o.appended and o.sent]
    stages = {
        "publish -> bridge receive": [(o.received_at - o.published) * ms for o in staged],
        "bridge receive -> Kafka append": [(o.appended - o.received_at) * ms for o in staged],
        "Kafka append -> worker sends completed": [(o.sent - o.appended) * ms for o in staged],
        "worker sends -> consumer read": [(o.read - o.sent) * ms for o in staged],
    }
    breakdown = {k: percentiles(v) for k, v in stages.items() if len(v) > 1}
    notifications = sum(len(o.op.hosts) + 2 for o in ops)
    inside = stats.get("batch_latency", {})
    inside = {k: v for k, v in inside.items() if k in INSIDE.values()}
    floor = sum(
        breakdown[k]["p50"] * n
        for k, n in (
            ("publish -> bridge receive", 1),
            ("bridge receive -> Kafka append", 1),
            ("worker sends -> consumer read", 2),
        )
        if k in breakdown
    )
    text = "\n".join(
        [
            f"{len(ops)} operations ({args.sizes} hosts, cycled), {notifications:,} cache_images "
            f"notifications at {args.rate:,.0f}/s, other traffic at {args.background:,.0f}/s; "
            f"{len(done)} completed and watched; {elapsed:.0f} s",
            table(
                ["path", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                [
                    ["direct RabbitMQ watcher", *[direct[k] for k in ("p50", "p95", "p99", "max")]],
                    [
                        "precache (bridge -> Kafka -> worker -> completed -> consumer)",
                        *[precache[k] for k in ("p50", "p95", "p99", "max")],
                    ],
                ],
            ),
            "",
            "breakdown of the precache path (the last progress notification of each operation):",
            table(
                ["stage", "p50 ms", "p95 ms", "p99 ms"],
                [[k, v["p50"], v["p95"], v["p99"]] for k, v in breakdown.items()],
            ),
            "",
            table(
                ["process", "CPU s during the run", "peak RSS MiB"],
                [[k, cpu[k], rss[k]] for k in ("bridge", "worker")],
            ),
            f"worker batches: {stats.get('batches', 0):,}, "
            f"{stats.get('batched_records', 0) / max(1, stats.get('batches', 0)):.1f} records each",
            "",
            "inside the worker (its GET /stats, the last 4,096 batches, every batch of the run):",
            table(
                ["figure", "p50 ms", "p99 ms", "max ms"],
                [
                    [label, *[inside.get(key, {}).get(q, "") for q in ("p50", "p99", "max")]]
                    for label, key in INSIDE.items()
                ],
            ),
            "",
            f"hop floor (p50): {floor:.1f} ms = publish -> bridge receive + bridge receive -> "
            "Kafka append + 2 x (worker sends -> consumer read): what RabbitMQ and two Kafka "
            "hops cost in this run with no processing at all (the worker's input fetch is a "
            "hop like its output's)",
        ]
    )
    figures = {
        "hop_floor_p50_ms": round(floor, 2),
        "worker_inside_ms": inside,
        "ops": len(ops),
        "completed": len(done),
        "precache_ms": {k: round(v, 2) for k, v in precache.items()},
        "direct_ms": {k: round(v, 2) for k, v in direct.items()},
        "breakdown_ms": {k: {q: round(x, 2) for q, x in v.items()} for k, v in breakdown.items()},
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "peak_rss_mib": {k: round(v) for k, v in rss.items()},
    }
    return text, figures
