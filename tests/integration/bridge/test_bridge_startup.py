"""``precache bridge`` start-up checks, as an operator meets them: one line, exit status 3.

A broker that is down is retried; a configuration that cannot work (a bad URL, a vhost that
does not exist, bad credentials, our topics existing with the wrong partitions, cleanup policy
or size limit) is fatal at once, naming what failed and never the password.
"""

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from precache.bridge.settings import BridgeSettings
from tests.support.amqp import delete_queue, publish, queue_counts, wait_for_consumer
from tests.support.bridge import bridge_argv, start_bridge_process
from tests.support.kafka import alter_topic, create_topic

pytestmark = pytest.mark.integration

PASSWORD = "not-the-password-0451"


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


def _run(settings: BridgeSettings, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*bridge_argv(settings), *extra], capture_output=True, text=True, timeout=120
    )


def _one_line_exit_3(result: subprocess.CompletedProcess[str], *says: str) -> str:
    assert result.returncode == 3, result.stderr[-3000:]
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    for words in says:
        assert words in line, line
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    return line


@pytest.mark.parametrize(
    ("topic", "partitions", "configs", "says"),
    [
        ("dlq_topic", 1, {"cleanup.policy": "compact"}, "must not be compacted"),
        ("raw_topic", 4, {"cleanup.policy": "compact"}, "must not be compacted"),
        ("raw_topic", 3, {}, "has 3 partitions, PRECACHE_RAW_PARTITIONS is 4"),
        ("raw_topic", 4, {"max.message.bytes": "1048576"}, "max.message.bytes=1048576"),
    ],
)
async def test_our_topic_with_the_wrong_config_is_refused_at_start(
    settings: Callable[..., BridgeSettings],
    kafka_bootstrap: str,
    topic: str,
    partitions: int,
    configs: dict[str, str],
    says: str,
) -> None:
    made = settings()
    name = getattr(made, topic)
    await create_topic(kafka_bootstrap, name, partitions, configs)
    _one_line_exit_3(_run(made), name, says)


def test_a_topic_kafka_cannot_create_is_fatal_naming_topic_and_setting(
    settings: Callable[..., BridgeSettings],
) -> None:
    """The same per-topic check as the worker's (precache.kafka_topics): Kafka allows 249
    characters in a topic name."""
    name = "nova.notifications.dlq." + "x" * 232  # 255 characters
    _one_line_exit_3(
        _run(settings(dlq_topic=name)), f"cannot create Kafka topic {name}", "(PRECACHE_DLQ_TOPIC)"
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"amqp://guest:{PASSWORD}@127.0.0.1:{{port}}//", "ACCESS_REFUSED"),
        (f"amqp://guest:{PASSWORD}@127.0.0.1:{{port}}/no-such-vhost-x9", "no-such-vhost-x9"),
        (f"amqp://guest:{PASSWORD}@no-such-host.invalid:{{port}}//", "host not found"),
        (f"amqp://guest:{PASSWORD}@127.0.0.1:port//", "setting amqp_url"),
        (f"http://guest:{PASSWORD}@127.0.0.1:{{port}}//", "scheme"),
    ],
)
def test_a_rabbitmq_that_says_no_is_fatal_with_one_line(
    settings: Callable[..., BridgeSettings], amqp_url: str, url: str, says: str
) -> None:
    port = amqp_url.rsplit(":", 1)[1].split("/")[0]
    made = settings()
    line = _one_line_exit_3(_run(made, f"--amqp-url={url.format(port=port)}"), says)
    if "setting" not in line:
        assert "guest:***@" in line


def test_a_rabbitmq_that_is_down_is_retried(
    settings: Callable[..., BridgeSettings], tmp_path: Path
) -> None:
    """Nothing listens on port 1: the bridge waits with backoff, and stops cleanly."""
    made = settings()
    log = tmp_path / "bridge.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*bridge_argv(made), f"--amqp-url=amqp://guest:{PASSWORD}@127.0.0.1:1//"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "amqp connection lost" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert process.poll() is None, log.read_text()
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, log.read_text()
    assert PASSWORD not in log.read_text()


async def test_a_dlq_that_refuses_dead_letters_even_cut_stops_the_bridge_with_one_line(
    settings: Callable[..., BridgeSettings], amqp_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The DLQ made compacted while the bridge runs: a dead letter (no key) is refused, then
    refused again cut to 1 KiB; the bridge exits 3 rather than ack what it could not keep
    (the message stays in RabbitMQ)."""
    made = settings()
    log = tmp_path / "bridge.log"
    process = start_bridge_process(made, log)
    try:
        await asyncio.to_thread(wait_for_consumer, amqp_url, made.queue)
        await alter_topic(kafka_bootstrap, made.dlq_topic, {"cleanup.policy": "compact"})
        await asyncio.sleep(1)  # the broker applies the change
        await asyncio.to_thread(publish, amqp_url, made.exchange, [b"not json"])
        code = await asyncio.to_thread(process.wait, 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert code == 3, text[-3000:]
    [line] = [line for line in text.splitlines() if line.startswith("error: ")]
    assert "Kafka refuses dead letters on " + made.dlq_topic in line
    assert "InvalidRecordError" in line
    assert queue_counts(amqp_url, made.queue)[0] == 1  # not acked: still in RabbitMQ
    delete_queue(amqp_url, made.queue)
