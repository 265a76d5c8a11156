"""A Kafka outage costs the bridge and the worker a few log lines, not a flood (issue 19,
item 4): both back off their reconnects and say "Kafka unreachable since T, retrying every N s"
once per interval; both carry on when Kafka is back.

During a 40 s outage the bridge's logs held back ~200,000 connection errors and the worker
wrote up to 273,506 error lines (43 MB). The CPU they use meanwhile is measured by
``.venv/bin/python -m bench outage`` (bench/README.md), not asserted here.

Slow (stops Kafka): run with ``scripts/test-faults`` on a private stack.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from bench.synthetic import SyntheticOperation, hostnames
from precache.pipeline.settings import WorkerSettings
from precache.stack import StackSettings, start_broker, stop_broker
from tests.support.amqp import publish, wait_for_consumer
from tests.support.bridge import start_bridge_process
from tests.support.chain import bridge_for
from tests.support.kafka import completed_ids, read_until
from tests.support.worker import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]

DOWN_S = 25
# a line per retry interval (10 s at most) per logger that reports the failure: a handful each
MAX_LINES = 60


def _bodies(op: SyntheticOperation) -> list[bytes]:
    """The operation's notifications as oslo puts them on RabbitMQ."""
    records = [op.start(), *op.all_progress(), op.end()]
    return [
        orjson.dumps({"oslo.version": "2.0", "oslo.message": value.decode()})
        for _, value, _ in records
    ]


async def _completes(worker: WorkerSettings, op: SyntheticOperation) -> None:
    events = await read_until(
        worker.kafka_bootstrap,
        [worker.completed_topic],
        lambda ev: op.operation_id in completed_ids(ev),
        wait_s=180,
    )
    assert op.operation_id in completed_ids(events)


def _lines_since(log: Path, start: int) -> list[str]:
    return log.read_bytes()[start:].decode(errors="replace").splitlines()


async def test_a_kafka_outage_is_a_few_lines_and_both_carry_on(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    amqp_url: str,
    stack: StackSettings,
    tmp_path: Path,
) -> None:
    worker_config = await worker_settings(log_level="INFO")
    worker = start_worker(worker_config)
    settings = bridge_for(worker_config, amqp_url, uuid.uuid4().hex[:8])
    bridge_log = tmp_path / "bridge.log"
    bridge = start_bridge_process(settings, bridge_log)
    try:
        await asyncio.to_thread(wait_for_consumer, amqp_url, settings.queue)
        await asyncio.to_thread(worker.wait_ready)
        before = SyntheticOperation(hosts=hostnames(5), images=["img"])
        await asyncio.to_thread(publish, amqp_url, settings.exchange, _bodies(before))
        await _completes(worker_config, before)

        marks = (bridge_log.stat().st_size, worker.log_path.stat().st_size)
        assert await asyncio.to_thread(stop_broker, stack, "kafka")
        during = SyntheticOperation(hosts=hostnames(5), images=["img"])
        await asyncio.to_thread(publish, amqp_url, settings.exchange, _bodies(during))
        await asyncio.sleep(DOWN_S)
        bridge_lines = _lines_since(bridge_log, marks[0])
        worker_lines = _lines_since(worker.log_path, marks[1])
        await asyncio.to_thread(start_broker, stack, "kafka")

        await _completes(worker_config, during)  # held by the bridge, sent once Kafka is back
        assert bridge.poll() is None
        assert worker.proc is not None
        assert worker.proc.poll() is None
    finally:
        await asyncio.to_thread(start_broker, stack, "kafka")
        bridge.terminate()
        await asyncio.to_thread(bridge.wait, 30)
    for name, lines in (("bridge", bridge_lines), ("worker", worker_lines)):
        assert len(lines) <= MAX_LINES, f"{name}: {len(lines)} lines\n" + "\n".join(lines[:40])
        assert any("Kafka unreachable since" in line for line in lines), name
