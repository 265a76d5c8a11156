"""The whole chain on ``precache stack up --secure``, every command configured only from
``precache stack env --secure``: simulate -> RabbitMQ (TLS, client certificate) -> bridge ->
Kafka (SASL_SSL, SCRAM-SHA-512) -> worker -> watch. Then everything the run left behind (logs,
output, every Kafka topic, the processes' command lines) and every command's ``--help`` is
searched for the secrets it used."""

import asyncio
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from typer.testing import CliRunner

from precache.cli import app
from precache.kafka_connection import client_options
from precache.stack import StackSettings
from precache.stack.clients import kafka_connection
from tests.support.secure import command_env, precache, stack_env, wait_for_line
from tests.support.worker import free_port

pytestmark = pytest.mark.integration

HOSTS = 6


@dataclass
class SecureRun:
    env: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)
    cmdlines: list[bytes] = field(default_factory=list)
    watch_status: int | None = None


def secrets_of(stack: StackSettings, env: dict[str, str]) -> dict[str, bytes]:
    """Every secret of the secure stack: passwords, and each line of every private key."""
    pki = stack.pki_dir
    found = {
        "amqp password": Path(env["PRECACHE_AMQP_PASSWORD_FILE"]).read_bytes().strip(),
        "kafka password": Path(env["PRECACHE_KAFKA_SASL_PASSWORD_FILE"]).read_bytes().strip(),
        "kafka broker password": (pki / "kafka-broker-password").read_bytes().strip(),
    }
    for key in ("client-key.pem", "server-key.pem", "ca-key.pem"):
        for n, line in enumerate((pki / key).read_bytes().splitlines()):
            if not line.startswith(b"-----"):
                found[f"{key} line {n}"] = line.strip()
    assert all(len(v) >= 16 for v in found.values())
    return found


@pytest.fixture(scope="module")
def secure_run(secure_stack: StackSettings, tmp_path_factory: pytest.TempPathFactory) -> SecureRun:
    tmp = tmp_path_factory.mktemp("secure-run")
    name = f"secure-{uuid.uuid4().hex[:8]}"
    configured = stack_env(secure_stack)
    env = command_env(
        configured,
        PRECACHE_REGION="secure",
        PRECACHE_EXCHANGE=f"{name}-nova",
        PRECACHE_CONTROL_EXCHANGE=f"{name}-nova",
        PRECACHE_QUEUE=name,
        PRECACHE_APP_ID=name,
        PRECACHE_RAW_TOPIC=f"{name}.raw",
        PRECACHE_DLQ_TOPIC=f"{name}.raw.dlq",
        PRECACHE_PIPELINE_DLQ_TOPIC=f"{name}.dlq",
        PRECACHE_TICKS_TOPIC=f"{name}.ticks",
        PRECACHE_STATUS_TOPIC=f"{name}.status",
        PRECACHE_COMPLETED_TOPIC=f"{name}.completed",
        PRECACHE_HOST_FAILED_TOPIC=f"{name}.host-failed",
        PRECACHE_STALLED_TOPIC=f"{name}.stalled",
        PRECACHE_WEB_PORT=str(free_port()),
        PRECACHE_DATA_DIR=str(tmp / "worker"),
        PRECACHE_GRACE_PERIOD_S="2",
    )
    run = SecureRun(env)
    logs = {n: tmp / f"{n}.log" for n in ("worker", "bridge", "watch")}
    services: dict[str, subprocess.Popen[str]] = {}
    aggregate = str(uuid.uuid4())
    try:
        for service in ("worker", "bridge"):
            with logs[service].open("w") as out:
                services[service] = subprocess.Popen(
                    precache(service), env=env, stdout=out, stderr=subprocess.STDOUT, text=True
                )
        wait_for_line(logs["bridge"], "amqp consuming", services["bridge"], timeout=90)
        with logs["watch"].open("w") as err:
            watch = subprocess.Popen(
                precache("watch", "--aggregate", aggregate, "--plain", "--timeout", "150"),
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        services["watch"] = watch
        wait_for_line(logs["watch"], "Waiting for an image cache operation", watch, 90)
        for process in services.values():
            run.cmdlines.append(Path(f"/proc/{process.pid}/cmdline").read_bytes())
            run.cmdlines.append(Path(f"/proc/{process.pid}/environ").read_bytes())
        simulate = subprocess.run(
            precache(
                "simulate", "--hosts", str(HOSTS), "--failing", "2", "--aggregate-uuid", aggregate
            ),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        run.outputs["simulate"] = simulate.stdout + simulate.stderr
        assert simulate.returncode == 0, simulate.stderr
        run.outputs["watch stdout"] = watch.communicate(timeout=180)[0]
        run.watch_status = watch.returncode
    finally:
        for process in services.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in services.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for service, log in logs.items():
            run.outputs[service] = log.read_text(errors="replace") if log.exists() else ""
    return run


def test_the_chain_runs_on_tls_and_sasl_only(secure_run: SecureRun) -> None:
    env = secure_run.env
    assert env["PRECACHE_AMQP_URL"].startswith("amqps://")
    assert env["PRECACHE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert secure_run.watch_status == 1, secure_run.outputs["watch"]  # host 2 fails on purpose
    lines = secure_run.outputs["watch stdout"].splitlines()
    assert lines[0] == f"Image cache started on {HOSTS} hosts"
    assert f"Aggregate 'my-application' host {HOSTS}: 100% complete (1 errors)" in lines
    assert lines[lines.index("Errors from hosts:") + 1] == "guaranine2"


def test_no_secret_in_logs_output_help_topics_or_process_list(
    secure_run: SecureRun, secure_stack: StackSettings
) -> None:
    secrets = secrets_of(secure_stack, secure_run.env)
    seen: dict[str, bytes] = {n: o.encode() for n, o in secure_run.outputs.items()}
    seen |= {f"process {n}": c for n, c in enumerate(secure_run.cmdlines)}
    seen |= _help_pages(secure_run.env, secrets)
    seen |= asyncio.run(_every_topic(secure_stack))
    assert any(b"amqp consuming" in v for v in seen.values())  # the logs were read
    assert len([n for n in seen if n.startswith("topic ")]) >= 8
    leaks = [
        f"{secret} in {where}"
        for where, text in seen.items()
        for secret, value in secrets.items()
        if value in text
    ]
    assert not leaks


def _help_pages(env: dict[str, str], secrets: dict[str, bytes]) -> dict[str, bytes]:
    """``--help`` of every command, with the secrets also given as env values (not files)."""
    with_values = {
        **env,
        "PRECACHE_AMQP_PASSWORD": secrets["amqp password"].decode(),
        "PRECACHE_KAFKA_SASL_PASSWORD": secrets["kafka password"].decode(),
    }
    runner = CliRunner()
    pages: dict[str, bytes] = {}
    for path in _command_paths(typer.main.get_command(app), []):
        result = runner.invoke(app, [*path, "--help"], env=with_values)
        assert result.exit_code == 0, (path, result.output)
        pages[f"help {' '.join(path)}"] = result.output.encode()
    assert len(pages) >= 10
    return pages


def _command_paths(command: Any, prefix: list[str]) -> Iterator[list[str]]:
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():  # typer's vendored click
        yield from _command_paths(sub, [*prefix, name])


async def _every_topic(stack: StackSettings) -> dict[str, bytes]:
    """Every record (keys, values, headers) of every topic on the secure Kafka."""
    consumer = AIOKafkaConsumer(
        **client_options(kafka_connection(stack)), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        partitions = [
            TopicPartition(t, p)
            for t in cluster.topics(exclude_internal_topics=False)
            for p in cluster.partitions_for_topic(t) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: dict[str, bytearray] = {f"topic {tp.topic}": bytearray() for tp in partitions}
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    text = found[f"topic {tp.topic}"]
                    text += (r.key or b"") + b"\n" + (r.value or b"") + b"\n"
                    for _, value in r.headers:
                        text += value + b"\n"
        return {k: bytes(v) for k, v in found.items()}
    finally:
        await consumer.stop()


def test_stack_env_names_files_not_secrets(
    secure_stack: StackSettings, unique_name: Callable[[str], str]
) -> None:
    env = stack_env(secure_stack)
    secrets = secrets_of(secure_stack, env)
    assert not any(v.encode() == s for v in env.values() for s in secrets.values())
    assert "PRECACHE_AMQP_PASSWORD" not in env
    assert "PRECACHE_KAFKA_SASL_PASSWORD" not in env
    for name in ("AMQP_PASSWORD_FILE", "KAFKA_SASL_PASSWORD_FILE", "KAFKA_SSL_KEYFILE"):
        assert Path(env[f"PRECACHE_{name}"]).stat().st_mode & 0o077 == 0, name
