"""Standby bridges and the probes, as `precache bridge` processes on the real brokers: two
bridges on one single-active-consumer queue (one active, one standby, the role in the log,
the gauge and ``/readyz``), the hand-over when the active one stops, ``/healthz`` and
``/readyz`` before a connection and once ready, and the one line (exit 3) when the queue
exists without the argument. The faults (SIGKILL, SIGSTOP, Kafka away) are in
``test_standby_faults.py`` (private stack)."""

import asyncio
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.structs import ConsumerRecord
from kombu.connection import Connection

from precache.bridge.settings import BridgeSettings
from precache.bridge.topology import declared_queues
from tests.support.amqp import publish, queue_counts
from tests.support.bridge import SettingsFactory, bridge_argv, start_bridge_process
from tests.support.chain import tracebacks
from tests.support.health import Answer, metric, probe, wait_for
from tests.support.kafka import has_ids, message_ids, read_topic
from tests.support.messages import bodies
from tests.support.worker import free_port

pytestmark = pytest.mark.integration


def ready(answer: Answer) -> bool:
    return answer[0] == 200


def role_is(role: str) -> Callable[[Answer], bool]:
    return lambda answer: answer[0] == 200 and answer[1].get("role") == role


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


async def test_probes_before_rabbitmq_answers(
    bridge_settings: SettingsFactory,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    """No RabbitMQ yet (nothing listens on its port): alive, not ready, says why."""
    port = free_port()
    settings = bridge_settings(
        amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port()}//", metrics_port=port
    )
    processes.append(start_bridge_process(settings, tmp_path / "bridge.log"))
    seen = await asyncio.to_thread(wait_for, port, "/readyz", lambda a: True)
    assert seen[-1] == (
        503,
        {"role": "disconnected", "status": "not ready", "reason": "not connected to RabbitMQ"},
    )
    assert probe(port, "/healthz") == (200, {"status": "ok"})
    assert metric(port, "precache_bridge_role", 'role="disconnected"') == 1.0
    await asyncio.sleep(2)  # retrying, still alive and still not ready
    assert processes[0].poll() is None
    answer = probe(port, "/readyz")
    assert answer is not None
    assert answer[0] == 503


async def test_two_bridges_one_active_one_standby_and_the_hand_over(
    bridge_settings: SettingsFactory,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    a_port, b_port = free_port(), free_port()
    a = bridge_settings(single_active_consumer=True, metrics_port=a_port, bridge_id="bridge-a")
    b = a.model_copy(update={"metrics_port": b_port, "bridge_id": "bridge-b"})
    url = a.amqp_url.get_secret_value()
    a_log, b_log = tmp_path / "a.log", tmp_path / "b.log"

    processes.append(start_bridge_process(a, a_log))
    # consuming, nothing delivered yet: RabbitMQ does not tell, so standby until a delivery
    await asyncio.to_thread(wait_for, a_port, "/readyz", role_is("standby"))
    first, first_ids = bodies(20)
    await asyncio.to_thread(publish, url, a.exchange, first)
    await asyncio.to_thread(wait_for, a_port, "/readyz", role_is("active"))

    processes.append(start_bridge_process(b, b_log))
    await asyncio.to_thread(wait_for, b_port, "/readyz", role_is("standby"))
    more, more_ids = bodies(30)
    await asyncio.to_thread(publish, url, a.exchange, more)
    records = await read_topic(a.kafka_bootstrap, a.raw_topic, has_ids(first_ids | more_ids))
    assert {_source(r) for r in records} == {"bridge-a"}, "the standby forwarded records"
    assert probe(b_port, "/readyz") == (200, {"role": "standby", "status": "ready"})
    assert metric(b_port, "precache_bridge_role", 'role="standby"') == 1.0
    assert metric(a_port, "precache_bridge_role", 'role="active"') == 1.0

    processes[0].send_signal(signal.SIGTERM)  # a graceful stop hands the queue over
    assert await asyncio.to_thread(processes[0].wait, 20) == 0
    last, last_ids = bodies(10)
    await asyncio.to_thread(publish, url, a.exchange, last)
    await asyncio.to_thread(wait_for, b_port, "/readyz", role_is("active"))
    records = await read_topic(a.kafka_bootstrap, a.raw_topic, has_ids(last_ids))
    by_source: dict[str, set[str]] = {}
    for r in records:
        by_source.setdefault(_source(r), set()).add(dict(r.headers)["message_id"].decode())
    assert by_source["bridge-b"] == last_ids
    assert first_ids | more_ids <= by_source["bridge-a"]
    log = b_log.read_text()
    assert '"role": "active", "previous": "standby"' in log or "role=active" in log, log[-2000:]
    assert tracebacks(a_log, b_log) == []


async def test_existing_queue_without_single_active_consumer_is_one_line_and_exit_3(
    bridge_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = bridge_settings(single_active_consumer=True)
    url = settings.amqp_url.get_secret_value()
    plain = settings.model_copy(update={"single_active_consumer": False})
    _declare(url, plain)  # the queue of a bridge that ran before standby bridges existed
    result = await asyncio.to_thread(
        subprocess.run, bridge_argv(settings), capture_output=True, timeout=60
    )
    assert result.returncode == 3
    err = result.stderr.decode().strip()
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "without x-single-active-consumer" in line
    assert "precache bridge-queue migrate" in line

    # and the other way round: a standby queue, a bridge started without the setting
    other = bridge_settings(single_active_consumer=True)
    _declare(url, other)
    result = await asyncio.to_thread(
        subprocess.run,
        bridge_argv(other.model_copy(update={"single_active_consumer": False})),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 3
    err = result.stderr.decode().strip()
    [line] = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in err
    assert "run every bridge of this queue with --single-active-consumer" in line


def _declare(url: str, settings: BridgeSettings) -> None:
    with Connection(url) as conn:
        for queue in declared_queues(settings):
            queue.bind(conn.default_channel).declare()


def _source(record: ConsumerRecord[bytes, bytes]) -> str:
    return str(dict(record.headers)["source"].decode())


async def test_migrate_gives_the_queue_the_argument_and_keeps_every_message(
    bridge_settings: SettingsFactory,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    settings = bridge_settings(single_active_consumer=True, metrics_port=free_port())
    url = settings.amqp_url.get_secret_value()
    _declare(url, settings.model_copy(update={"single_active_consumer": False}))
    waiting, ids = bodies(100)
    await asyncio.to_thread(publish, url, settings.exchange, waiting)
    migrate = ["bridge-queue", "migrate", *bridge_argv(settings)[2:]]
    argv = [bridge_argv(settings)[0], *migrate]

    result = await asyncio.to_thread(subprocess.run, argv, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert (
        f"{settings.queue}: x-single-active-consumer, 100 messages moved" in result.stdout.decode()
    )
    assert queue_counts(url, settings.queue) == (100, 0)
    again = await asyncio.to_thread(subprocess.run, argv, capture_output=True, timeout=120)
    assert f"{settings.queue}: x-single-active-consumer, 0 messages moved" in again.stdout.decode()

    processes.append(start_bridge_process(settings, tmp_path / "bridge.log"))
    await asyncio.to_thread(wait_for, settings.metrics_port, "/readyz", ready)
    late, late_ids = bodies(10)  # still bound to Nova's exchange
    await asyncio.to_thread(publish, url, settings.exchange, late)
    records = await read_topic(
        settings.kafka_bootstrap, settings.raw_topic, has_ids(ids | late_ids)
    )
    assert ids | late_ids <= message_ids(records)
    assert probe(settings.metrics_port, "/readyz") == (200, {"role": "active", "status": "ready"})
