"""Operator mistakes are one line and exit status 3, never a traceback, never silent (issue 19,
item 3), for the bridge and the worker alike."""

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from precache.bridge.settings import BridgeSettings
from tests.support.bridge import bridge_argv

pytestmark = pytest.mark.integration

PRECACHE = str(Path(sys.executable).parent / "precache")


@pytest.fixture
def settings(
    amqp_url: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> Callable[..., BridgeSettings]:
    def make(**overrides: Any) -> BridgeSettings:
        values: dict[str, Any] = {
            "amqp_url": amqp_url,
            "kafka_bootstrap": kafka_bootstrap,
            "exchange": unique_name("nova"),
            "queue": unique_name("precache-bridge"),
            "raw_topic": unique_name("nova.notifications"),
            "dlq_topic": unique_name("nova.notifications.dlq"),
            **overrides,
        }
        return BridgeSettings(**values)

    return make


def _one_line_exit_3(argv: list[str], *says: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    for words in says:
        assert words in line, line
    return line


@pytest.mark.parametrize("kafka", ["not a host:xx", "127.0.0.1:99999", "kafka-1:9092,:9093"])
def test_a_bad_kafka_address_is_one_line_for_the_bridge_and_the_worker(
    settings: Callable[..., BridgeSettings], kafka: str, tmp_path: Path
) -> None:
    """Both printed 75-97 lines of traceback and exited 1."""
    says = ("kafka_bootstrap", "expected host:port", repr(kafka))
    _one_line_exit_3([*bridge_argv(settings()), f"--kafka={kafka}"], *says)
    worker = [PRECACHE, "worker", f"--kafka={kafka}", f"--data-dir={tmp_path}"]
    _one_line_exit_3(worker, *says)


@pytest.mark.parametrize("region", ["eu/west", "eu\x1b[31mwest", "x" * 256])
def test_the_bridge_refuses_a_region_the_worker_would_refuse(
    settings: Callable[..., BridgeSettings], region: str
) -> None:
    """It started, and the worker then dead-lettered every record of it (``bad_region``)."""
    _one_line_exit_3([*bridge_argv(settings()), f"--region={region}"], "region")


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _forward(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    try:
        while data := await reader.read(65536):
            await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def slow_link(port: int, delay: float) -> AsyncIterator[int]:
    """A TCP forwarder to 127.0.0.1:``port`` that holds what the broker says ``delay`` s: the
    real RabbitMQ, reached over a slow link (its refusal arrives after Kafka is ready)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(_forward(reader, up_writer, 0), _forward(up_reader, writer, delay))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


async def test_a_bridge_rabbitmq_refuses_creates_no_kafka_topic(
    settings: Callable[..., BridgeSettings], amqp_url: str, kafka_bootstrap: str
) -> None:
    """The bridge created its topics while it connected to RabbitMQ: a vhost RabbitMQ then
    refused left them behind."""
    made = settings()
    parts = urlsplit(amqp_url)
    assert parts.port is not None
    async with slow_link(parts.port, delay=1.0) as port:
        url = f"amqp://{parts.username}:{parts.password}@127.0.0.1:{port}/no-such-vhost-h19"
        line = await asyncio.to_thread(
            _one_line_exit_3, [*bridge_argv(made), f"--amqp-url={url}"], "no-such-vhost-h19"
        )
    assert "refused" in line
    left = await _topics(kafka_bootstrap)
    assert made.raw_topic not in left
    assert made.dlq_topic not in left


def test_a_password_in_the_amqp_url_option_is_accepted_with_a_warning(
    settings: Callable[..., BridgeSettings],
) -> None:
    """Visible to every user in ``ps``: accepted (it works), one line says where it belongs.
    (The bridge here stops at a bad region, after the warning.)"""
    made = settings()
    result = subprocess.run(
        [*bridge_argv(made), "--region=bad/region"], capture_output=True, text=True, timeout=60
    )
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: the password in --amqp-url is visible to every user of this machine (ps): "
        "give it in PRECACHE_AMQP_PASSWORD_FILE instead"
    ]
    password = made.amqp_url.get_secret_value().split(":")[2].split("@")[0]
    assert password not in result.stderr.replace("--amqp-url", "")
