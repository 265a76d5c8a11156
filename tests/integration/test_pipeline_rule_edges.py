"""What the rules used to leave open (issue 19, item 5; docs/pipeline-rules.md R3 and R8), on
the real Kafka with `precache worker`: an end naming hosts the operation's list has not, and
notification times far from the worker's clock."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from bench.synthetic import Record, SyntheticOperation, hostnames
from precache.pipeline.settings import WorkerSettings
from tests.support.kafka import completed_ids, of_type, produce, read_raw, read_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

IMAGES = ["c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2"]


def _retimed(record: Record, at: datetime) -> Record:
    key, value, headers = record
    message = orjson.loads(value)
    message["timestamp"] = at.strftime("%Y-%m-%d %H:%M:%S.%f")
    return key, orjson.dumps(message), headers


def _with_hosts(record: Record, hosts: list[str]) -> Record:
    key, value, headers = record
    message = orjson.loads(value)
    message["payload"]["nova_object.data"]["hosts"] = hosts
    return key, orjson.dumps(message), headers


async def test_an_end_naming_other_hosts_ends_the_operation_and_its_extra_hosts_are_dead_letters(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    """The end names ``stranger1`` and ``stranger2``, which the start did not list, and leaves
    out ``guaranine4``: the operation still ends (after the grace period, the unreported listed
    host counted ``no_report``), and the hosts only the end names are a dead letter (they used
    to vanish: no event, no dead letter, no counter)."""
    settings = await worker_settings()
    worker = start_worker(settings)
    hosts = hostnames(4)
    op = SyntheticOperation(hosts=hosts, images=IMAGES)
    end = _with_hosts(op.end(), [*hosts[:3], "stranger1", "stranger2"])
    records = [op.start(), *op.all_progress()[:3], end]
    await produce(settings.kafka_bootstrap, settings.raw_topic, records)
    worker.wait_ready()
    events = await read_until(
        settings.kafka_bootstrap,
        [settings.completed_topic, settings.host_failed_topic],
        lambda ev: bool(completed_ids(ev)) and bool(of_type(ev, "host.failed")),
    )
    (completed,) = of_type(events, "operation.completed")
    data = completed["data"]
    assert (data["hosts_total"], data["hosts_reported"], data["hosts_failed"]) == (4, 3, 1)
    assert data["missing_hosts"] == ["guaranine4"]
    [dead] = await read_raw(settings.kafka_bootstrap, settings.pipeline_dlq_topic, 1)
    headers = dict(dead.headers)
    assert headers["reason"] == b"hosts_not_in_operation"
    assert b"2 host(s)" in headers["error"]
    assert b"'stranger1', 'stranger2'" in headers["error"]
    assert dead.value == end[1]
    assert worker.get("/stats/")[1]["malformed_by_reason"]["hosts_not_in_operation"] == 1


async def test_times_hours_from_the_workers_clock_do_not_make_hours(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    """A conductor clock 3 h ahead for one host and 3 h behind for another gave a 6 h
    ``duration_s`` and an ``updated_at`` in the future. Every host still counts."""
    settings = await worker_settings()
    worker = start_worker(settings)
    now = datetime.now(UTC)
    hosts = hostnames(4)
    op = SyntheticOperation(hosts=hosts, images=IMAGES, started=now)
    progress = op.all_progress()
    progress[1] = _retimed(progress[1], now + timedelta(hours=3))
    progress[2] = _retimed(progress[2], now - timedelta(hours=3))
    await produce(settings.kafka_bootstrap, settings.raw_topic, [op.start(), *progress, op.end()])
    worker.wait_ready()
    events = await read_until(
        settings.kafka_bootstrap, [settings.completed_topic], lambda ev: bool(completed_ids(ev))
    )
    (completed,) = of_type(events, "operation.completed")
    data = completed["data"]
    assert (data["hosts_total"], data["hosts_reported"], data["hosts_failed"]) == (4, 4, 0)
    received = datetime.now(UTC)
    updated = datetime.fromisoformat(data["updated_at"].replace("Z", "+00:00"))
    assert updated <= received + timedelta(minutes=10)  # max_clock_skew_s is 5 min
    assert data["duration_s"] < 3600
