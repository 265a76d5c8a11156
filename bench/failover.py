"""Failover of standby bridges: the fault on the active bridge to the first record the standby
produced.

Two `precache bridge` processes (``--single-active-consumer``) on one queue of the local stack,
a publisher sending notifications at ``--rate`` with confirms. Once the active bridge (the
first to consume) forwards, it is SIGKILLed (RabbitMQ sees the TCP connection close at once)
or SIGSTOPped (frozen: its connection stays open until RabbitMQ misses its heartbeats, so
``--heartbeat`` bounds it). Failover = Kafka's timestamp of the standby's first record minus
the time of the signal. No broker is stopped: it runs on the shared stack.
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from kombu.connection import Connection
from kombu.entity import Exchange

from bench.bridge_throughput import ROUTING_KEY, bodies
from bench.support import bridge_argv, free_port
from precache.amqp_connection import kombu_options
from precache.bridge.settings import BridgeSettings
from precache.bridge.topics import ensure_topics
from precache.bridge.topology import declared_queues
from precache.stack import StackSettings


class Publisher(threading.Thread):
    """Publishes with confirms at ``rate`` per second until stopped."""

    def __init__(self, settings: BridgeSettings, rate: float) -> None:
        super().__init__(daemon=True)
        self._settings, self._rate = settings, rate
        self.stop = threading.Event()

    def run(self) -> None:
        options = kombu_options(self._settings)
        with Connection(**options, transport_options={"confirm_publish": True}) as conn:
            exchange = Exchange(self._settings.exchange, type="topic", durable=False)
            with conn.Producer() as producer:
                began, sent = time.monotonic(), 0
                while not self.stop.is_set():
                    for body in bodies(10):
                        producer.publish(body, exchange=exchange, routing_key=ROUTING_KEY)
                    sent += 10
                    ahead = sent / self._rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)


async def first_from(settings: BridgeSettings, source: str, since: float, within: float) -> float:
    """Kafka timestamp (s) of the first record from ``source`` stamped at or after ``since``."""
    consumer = AIOKafkaConsumer(
        settings.raw_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            found = [
                r.timestamp / 1000
                for batch in (await consumer.getmany(timeout_ms=500)).values()
                for r in batch
                if dict(r.headers)["source"].decode() == source and r.timestamp / 1000 >= since
            ]
            if found:
                return float(min(found))
    finally:
        await consumer.stop()
    raise TimeoutError(f"{source} produced nothing in {within} s")


def wait_role(port: int, role: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if json.loads(r.read()).get("role") == role:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"bridge on {port} not {role} in {within} s")


def one_run(stack: StackSettings, fault: str, heartbeat: int, rate: float, log: Path) -> float:
    run = uuid.uuid4().hex[:8]
    base = BridgeSettings(
        amqp_url=stack.amqp_url,
        kafka_bootstrap=stack.kafka_bootstrap,
        exchange=f"bench-nova-{run}",
        queue=f"bench-failover-{run}",
        raw_topic=f"bench.failover.{run}",
        dlq_topic=f"bench.failover.dlq.{run}",
        single_active_consumer=True,
        amqp_heartbeat_s=heartbeat,
        prefetch=500,
    )
    asyncio.run(ensure_topics(base))
    a = base.model_copy(update={"bridge_id": "bridge-a", "metrics_port": free_port()})
    b = base.model_copy(update={"bridge_id": "bridge-b", "metrics_port": free_port()})
    with Connection(**kombu_options(base)) as conn:
        for queue in declared_queues(base):
            queue.bind(conn.default_channel).declare()
    processes: list[subprocess.Popen[bytes]] = []
    publisher = Publisher(base, rate)
    try:
        with log.open("ab") as out:
            processes.append(subprocess.Popen(bridge_argv(a), stdout=out, stderr=out))
            wait_role(a.metrics_port, "standby")  # consuming (first: it gets the deliveries)
            processes.append(subprocess.Popen(bridge_argv(b), stdout=out, stderr=out))
            wait_role(b.metrics_port, "standby")
        publisher.start()
        wait_role(a.metrics_port, "active")
        time.sleep(2)
        at = time.time()
        os.kill(processes[0].pid, signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
        try:
            first = asyncio.run(first_from(b, "bridge-b", at - 1, 30 + 4 * heartbeat))
        finally:
            if fault == "stop":
                os.kill(processes[0].pid, signal.SIGCONT)
        return first - at
    finally:
        publisher.stop.set()
        publisher.join(10)
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(15)
        with Connection(**kombu_options(base)) as conn:
            conn.default_channel.queue_delete(base.queue)


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    return await asyncio.to_thread(measure, argv)


def measure(argv: list[str]) -> tuple[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench failover", description=__doc__.split("\n")[0])
    parser.add_argument("--fault", choices=["kill", "stop"], action="append")
    parser.add_argument("--heartbeat", type=int, default=5, help="--amqp-heartbeat-s")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=300, help="notifications per second")
    args = parser.parse_args(argv)
    stack = StackSettings()
    log = Path(f"/tmp/bench-failover-{os.getpid()}.log")
    out = [f"heartbeat {args.heartbeat} s, {args.rate:g} notifications/s, bridge logs: {log}"]
    figures: dict[str, Any] = {"heartbeat_s": args.heartbeat}
    for fault in args.fault or ["kill", "stop"]:
        times = [one_run(stack, fault, args.heartbeat, args.rate, log) for _ in range(args.runs)]
        what = "SIGKILL" if fault == "kill" else "SIGSTOP"
        out.append(
            f"{what}: failover {' '.join(f'{t:.2f}' for t in times)} s "
            f"(median {statistics.median(times):.2f})"
        )
        figures[f"{fault}_s"] = [round(t, 2) for t in times]
    return "\n".join(out), figures
