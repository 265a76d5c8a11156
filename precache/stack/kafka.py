"""One Apache Kafka node in KRaft mode (broker and controller), run from Maven Central's jars."""

import asyncio
import base64
import os
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from aiokafka import AIOKafkaClient

from precache.errors import StackError
from precache.kafka_connection import KafkaConnection, client_options
from precache.logs import quiet_logger
from precache.stack import clients
from precache.stack.install import ensure_java, ensure_kafka_jars
from precache.stack.process import read_pid, spawn
from precache.stack.settings import StackSettings

_MAIN_CLASS = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"
_BROKER_USER = "broker"


def pid_file(settings: StackSettings) -> Path:
    return settings.kafka_dir / "kafka.pid"


def log_file(settings: StackSettings) -> Path:
    return settings.kafka_dir / "kafka.log"


def running_pid(settings: StackSettings) -> int | None:
    return read_pid(pid_file(settings))


def server_properties(settings: StackSettings) -> str:
    """A single-node KRaft config sized for a 2-core machine.

    The secure stack has one client listener, SASL_SSL with SCRAM-SHA-512 (client certificate
    required too), which the node also uses to reach itself; only the controller listener,
    bound to the stack's host, stays plaintext.
    """
    host, port = settings.host, settings.kafka_listen_port
    ctl = settings.kafka_listen_controller_port
    name = "SASL_SSL" if settings.secure else "PLAINTEXT"
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{ctl}",
        f"listeners={name}://{host}:{port},CONTROLLER://{host}:{ctl}",
        f"advertised.listeners={name}://{host}:{port}",
        "controller.listener.names=CONTROLLER",
        f"listener.security.protocol.map={name}:{name},CONTROLLER:PLAINTEXT",
        f"inter.broker.listener.name={name}",
        *(_security_properties(settings) if settings.secure else []),
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
    return "\n".join(lines)


def _security_properties(settings: StackSettings) -> list[str]:
    keys = clients.pki(settings)
    password = keys.secret(keys.kafka_broker_password)
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{_BROKER_USER}" password="{password}";'
    )
    return [
        f"sasl.enabled.mechanisms={clients.MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={clients.MECHANISM}",
        f"listener.name.sasl_ssl.{clients.MECHANISM.lower()}.sasl.jaas.config={jaas}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={keys.server_keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={keys.ca}",
        "listener.name.sasl_ssl.ssl.client.auth=required",  # plain ssl.client.auth skips SASL_SSL
        "ssl.endpoint.identification.algorithm=https",
    ]


def _scram_users(settings: StackSettings) -> list[str]:
    """``kafka-storage format --add-scram`` arguments: the users exist from the first start."""
    keys = clients.pki(settings)
    users = [
        (_BROKER_USER, keys.secret(keys.kafka_broker_password)),
        (clients.SECURE_KAFKA_USER, keys.secret(keys.kafka_password)),
    ]
    args = []
    for user, password in users:
        args += ["--add-scram", f"{clients.MECHANISM}=[name={user},password={password}]"]
    return args


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
    config.touch(mode=0o600)  # holds the broker's SCRAM password when secure
    config.chmod(0o600)
    config.write_text(server_properties(settings))
    if not (settings.kafka_dir / "data" / "meta.properties").exists():
        _format_storage(settings, config)
    argv = _java_command(settings, _MAIN_CLASS, str(config))
    pid = spawn(argv, log=log_file(settings), env=_java_env())
    pid_file(settings).write_text(f"{pid}\n")
    return pid


def cluster_id() -> str:
    """A random KRaft cluster id, as Kafka's ``Uuid.randomUuid`` makes one: never starting with
    ``-``, which the storage tool's argument parser would read as an option (1 start in 64)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _format_storage(settings: StackSettings, config: Path) -> None:
    argv = _java_command(settings, _STORAGE_TOOL, "format", "-t", cluster_id(), "-c", str(config))
    if settings.secure:
        argv += _scram_users(settings)
    result = subprocess.run(argv, capture_output=True, text=True, check=False, env=_java_env())
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def _java_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("JAVA_TOOL_OPTIONS")}


def answers(settings: StackSettings) -> bool:
    """True when the broker answers a metadata request."""
    return asyncio.run(_metadata_ok(clients.kafka_connection(settings)))


async def _metadata_ok(connection: KafkaConnection) -> bool:
    with quiet_logger("aiokafka"):  # refusals while the broker starts are expected
        return await _fetch_metadata(connection)


async def _fetch_metadata(connection: KafkaConnection) -> bool:
    client = AIOKafkaClient(**client_options(connection), request_timeout_ms=3000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()
