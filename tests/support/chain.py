"""The whole chain for one test: its own topics, a `precache bridge` and `precache worker`
processes (the launchers of the bridge and pipeline tests), and the audit of the run."""

import asyncio
import contextlib
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from kombu.connection import Connection
from pydantic import SecretStr

from precache.audit import AuditReport, AuditTopics, reconcile
from precache.audit.records import AuditRecord, read_run, read_topics
from precache.bridge.settings import BridgeSettings
from precache.pipeline.settings import WorkerSettings
from tests.support.amqp import delete_queue, wait_for_consumer
from tests.support.bridge import start_bridge_process


def bridge_for(
    worker: WorkerSettings, amqp_url: str, name: str, durable: bool = False, prefetch: int = 2000
) -> BridgeSettings:
    """A bridge writing into ``worker``'s raw topic, with its own exchange, queue and DLQ."""
    return BridgeSettings(
        amqp_url=SecretStr(amqp_url),
        kafka_bootstrap=worker.kafka_bootstrap,
        region="region-a",
        exchange=f"nova-{name}",
        queue=f"precache-bridge-{name}",
        raw_topic=worker.raw_topic,
        dlq_topic=f"{worker.app_id}.bridge-dlq",
        exchange_durable=durable,
        prefetch=prefetch,
        shutdown_timeout_s=5.0,
    )


def audit_topics(worker: WorkerSettings, bridge: BridgeSettings) -> AuditTopics:
    return AuditTopics(
        raw=worker.raw_topic,
        bridge_dlq=bridge.dlq_topic,
        pipeline_dlq=worker.pipeline_dlq_topic,
        completed=worker.completed_topic,
    )


def derived_topics(worker: WorkerSettings) -> list[str]:
    return [
        worker.status_topic,
        worker.completed_topic,
        worker.host_failed_topic,
        worker.stalled_topic,
    ]


async def audit(
    worker: WorkerSettings, bridge: BridgeSettings, accepted: list[str] | None
) -> AuditReport:
    """``precache audit``'s library on this run."""
    run = await read_run(worker.kafka_bootstrap, audit_topics(worker, bridge))
    return reconcile(run, accepted)


async def read(worker: WorkerSettings, topics: list[str]) -> dict[str, list[AuditRecord]]:
    return await read_topics(worker.kafka_bootstrap, topics)


@dataclass
class BridgeProcesses:
    """``precache bridge`` processes of one test (one at a time); stopped at the end."""

    settings: BridgeSettings
    log: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def current(self) -> subprocess.Popen[bytes]:
        return self.started[-1]

    async def start(self) -> subprocess.Popen[bytes]:
        process = start_bridge_process(self.settings, self.log)
        self.started.append(process)
        url = self.settings.amqp_url.get_secret_value()
        await asyncio.to_thread(wait_for_consumer, url, self.settings.queue_name, 60)
        return process

    async def kill(self) -> None:
        self.current.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.current.wait, 10)

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        url = self.settings.amqp_url.get_secret_value()
        delete_queue(url, self.settings.queue_name)
        with Connection(url) as conn, contextlib.suppress(Exception):
            # with it go its bindings, among them oslo's own versioned_notifications.info
            conn.default_channel.exchange_delete(self.settings.exchange)


def tracebacks(*logs: Path) -> list[str]:
    """Log lines that show a Python traceback (a crash the process may have survived)."""
    return [
        f"{log.name}: {line.strip()}"
        for log in logs
        if log.exists()
        for line in log.read_text(errors="replace").splitlines()
        if "Traceback" in line
    ]


async def record_count(bootstrap: str, topic: str) -> int:
    """Records written to ``topic`` so far (its end offsets summed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()
