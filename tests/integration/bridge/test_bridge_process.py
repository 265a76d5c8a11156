"""``precache bridge`` as a process: SIGTERM flushes, acks and exits 0 within seconds."""

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.amqp import StreamingPublisher, queue_counts, wait_for_consumer
from tests.support.bridge import SettingsFactory, start_bridge_process
from tests.support.kafka import message_ids, read_topic

pytestmark = pytest.mark.integration


async def test_sigterm_flushes_acks_and_exits_zero(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = bridge_settings(prefetch=500)
    log = tmp_path / "bridge.log"
    process = start_bridge_process(settings, log)
    try:
        await asyncio.to_thread(wait_for_consumer, amqp_url, settings.queue)
        with StreamingPublisher(amqp_url, settings.exchange, 3000, rate=1500) as publisher:
            await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 300)
            began = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(process.wait, 10)
            took = time.monotonic() - began
        sent = publisher.confirmed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, log.read_text()
    assert took < 5, f"exit took {took:.1f}s"
    assert "amqp://guest:***@" in log.read_text()
    assert "guest:guest" not in log.read_text()
    assert log.read_text().count("start-up heap frozen") == 1  # once Kafka took it (heap.py)
    ready, _ = await asyncio.to_thread(queue_counts, amqp_url, settings.queue)
    records = await read_topic(
        kafka_bootstrap, settings.raw_topic, lambda r: len(r) + ready >= len(sent), within=10
    )
    assert message_ids(records) <= sent
    assert len(records) == len(message_ids(records)), "clean stop: no duplicates"
    assert len(records) + ready == len(sent), "every record in Kafka acked, the rest queued"


def test_a_bad_config_file_is_one_line_and_exit_3(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("prefetch = -1\n")
    result = subprocess.run(
        [*_precache(), "bridge", f"--config={config}"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 3
    assert result.stderr.strip().startswith("error: setting prefetch")
    assert "Traceback" not in result.stderr


def _precache() -> list[str]:
    return [str(Path(sys.executable).parent / "precache")]
