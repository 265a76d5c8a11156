"""One Apache Kafka node in KRaft mode (broker and controller), run from Maven Central's jars."""

import asyncio
import base64
import contextlib
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from aiokafka import AIOKafkaClient

from precache.errors import StackError
from precache.stack.install import ensure_java, ensure_kafka_jars
from precache.stack.process import read_pid, spawn
from precache.stack.settings import StackSettings

_MAIN_CLASS = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"


def pid_file(settings: StackSettings) -> Path:
    return settings.kafka_dir / "kafka.pid"


def log_file(settings: StackSettings) -> Path:
    return settings.kafka_dir / "kafka.log"


def running_pid(settings: StackSettings) -> int | None:
    return read_pid(pid_file(settings))


def server_properties(settings: StackSettings) -> str:
    """A single-node KRaft config sized for a 2-core machine."""
    host, port, ctl = settings.host, settings.kafka_port, settings.kafka_controller_port
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{ctl}",
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{ctl}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={settings.kafka_dir / 'data'}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=8",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "log.retention.hours=24",
            "",
        ]
    )


def _java_command(settings: StackSettings, *args: str) -> list[str]:
    libs = ensure_kafka_jars(settings.kafka_version, settings.kafka_libs_dir)
    log4j = settings.kafka_dir / "log4j2.properties"
    log4j.write_text(resources.files("precache.stack").joinpath("log4j2.properties").read_text())
    return [
        ensure_java(),
        f"-Xms{settings.kafka_heap}",
        f"-Xmx{settings.kafka_heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={settings.kafka_dir / 'logs'}",
        "-cp",
        f"{libs}/*",
        *args,
    ]


def start(settings: StackSettings) -> int:
    """Format storage on first start, then run the node in the background; returns its pid."""
    settings.kafka_dir.mkdir(parents=True, exist_ok=True)
    config = settings.kafka_dir / "server.properties"
    config.write_text(server_properties(settings))
    if not (settings.kafka_dir / "data" / "meta.properties").exists():
        _format_storage(settings, config)
    argv = _java_command(settings, _MAIN_CLASS, str(config))
    pid = spawn(argv, log=log_file(settings), env=_java_env())
    pid_file(settings).write_text(f"{pid}\n")
    return pid


def _format_storage(settings: StackSettings, config: Path) -> None:
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    argv = _java_command(settings, _STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(config))
    result = subprocess.run(argv, capture_output=True, text=True, check=False, env=_java_env())
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def _java_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("JAVA_TOOL_OPTIONS")}


def answers(settings: StackSettings) -> bool:
    """True when the broker answers a metadata request."""
    return asyncio.run(_metadata_ok(settings.kafka_bootstrap))


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """A probe expects refusals while the broker starts; they are not worth a log line."""
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


async def _metadata_ok(bootstrap: str) -> bool:
    with _quiet("aiokafka"):
        return await _fetch_metadata(bootstrap)


async def _fetch_metadata(bootstrap: str) -> bool:
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()
