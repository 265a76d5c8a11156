"""The whole chain under faults, each during a running 2,000-host operation while a second one
runs: oslo's Notifier (a pool of host threads per operation, as Nova's conductor) -> RabbitMQ
-> ``precache bridge`` -> Kafka -> ``precache worker``. Each test asserts that the fault landed
mid-stream, that every message_id RabbitMQ confirmed is in Kafka (raw topic or bridge DLQ),
and that each operation's completed event is exact and emitted once (by id): ``precache
audit``'s library judges the run, the plans' own expectations double-check it.

Brokers are stopped, restarted and frozen: run on a private stack (export
``PRECACHE_STACK_AMQP_PORT``, ``PRECACHE_STACK_KAFKA_PORT``,
``PRECACHE_STACK_KAFKA_CONTROLLER_PORT``) with ``scripts/test-faults``; ``--runs N`` (env
``PRECACHE_FAULT_RUNS``) repeats each fault N times.
"""

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from precache.audit.errors import AuditError
from precache.audit.reconcile import operation_key
from precache.bridge.settings import BridgeSettings
from precache.pipeline.settings import WorkerSettings
from precache.simulate.plan import SimulationPlan
from precache.stack import StackSettings, start_broker, stop_broker
from precache.stack import kafka as stack_kafka
from tests.support.amqp import delete_queue
from tests.support.chain import BridgeProcesses, audit, bridge_for, read, record_count
from tests.support.schemas import derived_event
from tests.support.traffic import Traffic, expected_from_bus, operation_id
from tests.support.worker import WorkerProcess

RUNS = int(os.environ.get("PRECACHE_FAULT_RUNS", "1"))
runs = pytest.mark.parametrize("run", range(1, RUNS + 1))
# the workers' log level: INFO shows faust's rebalance and changelog recovery steps
LOG_LEVEL = os.environ.get("PRECACHE_FAULT_LOG_LEVEL", "WARNING")

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(900)]

IMAGES = ("img-a", "img-b")


def two_operations() -> list[SimulationPlan]:
    """2,000 hosts with three failing; beside it 600 hosts, one that never reports (completed
    after the grace period)."""
    return [
        SimulationPlan(hosts=2000, failing=frozenset({7, 700, 1999}), images=IMAGES),
        SimulationPlan(
            hosts=600, failing=frozenset({3}), no_report=frozenset({250}), images=IMAGES
        ),
    ]


@dataclass
class Landed:
    """Where the stream was when the fault hit."""

    sent: int
    in_kafka: int


@dataclass
class Chain:
    amqp_url: str
    worker: WorkerSettings
    bridge: BridgeSettings
    bridges: BridgeProcesses
    start_worker: Callable[[WorkerSettings], WorkerProcess]
    worker_settings: Callable[..., Awaitable[WorkerSettings]]
    workers: list[WorkerProcess] = field(default_factory=list)

    def traffic(self, plans: list[SimulationPlan], rate: float) -> Traffic:
        return Traffic(self.amqp_url, self.bridge.exchange, plans, rate=rate).start()

    async def add_worker(self, settings: WorkerSettings | None = None) -> WorkerProcess:
        process = self.start_worker(settings or await self.worker_settings())
        await asyncio.to_thread(process.wait_ready)
        self.workers.append(process)
        return process

    async def mid_stream(self, traffic: Traffic, at: int = 600) -> Landed:
        """Once ``at`` records are in Kafka: where the stream is."""
        deadline = time.monotonic() + 60
        while (n := await record_count(self.worker.kafka_bootstrap, self.worker.raw_topic)) < at:
            assert time.monotonic() < deadline, f"{n} records in Kafka after 120 s: {traffic}"
            assert not traffic.errors, traffic.errors[:3]
            await asyncio.sleep(0.2)
        return Landed(traffic.sent, n)

    async def finish(self, traffic: Traffic, landed: Landed | None, wait_s: float = 300) -> None:
        """Traffic sent, every operation completed (or the deadline): judge the run."""
        await asyncio.to_thread(traffic.wait, wait_s)
        if landed is not None:
            assert landed.in_kafka < traffic.total, "the fault hit after the stream had passed"
            assert landed.sent < traffic.total, "the fault hit after publishing ended"
        wanted = {operation_id(p) for p in traffic.plans if expected_from_bus(p, traffic.accepted)}
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with contextlib.suppress(AuditError):  # Kafka still waking up: ask again
                done = await read(self.worker, [self.worker.completed_topic])
                if wanted <= set(completed_events(done)):
                    break
            await asyncio.sleep(3)
        await asyncio.sleep(3)  # a duplicate completion, if any, has time to show
        report = await audit(self.worker, self.bridge, traffic.accepted.ids)
        events = completed_events(await read(self.worker, [self.worker.completed_topic]))
        problems = judge(traffic, events)
        totals = report.to_json()["totals"]
        if report.lost:
            problems.append(f"lost {len(report.lost)} confirmed messages, e.g. {report.lost[:3]}")
        for key in report.wrong:
            problems.append(f"audit: {key} wrong: {report.operations[key].problems[:3]}")
        problems += [f"audit: {p}" for p in report.record_problems[:5]]
        dropped = traffic.total - traffic.sent
        print(
            f"\nfault run: sent {traffic.sent}, {dropped} dropped by oslo's Notifier "
            f"(fault at {landed}), audit {totals}"
        )
        assert not problems, "\n".join(problems)


def completed_events(topics: dict[str, list[Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for records in topics.values():
        for r in records:
            event = derived_event(r)
            out.setdefault(operation_key(event["data"]), []).append(event)
    return out


def judge(traffic: Traffic, events: dict[str, list[dict[str, Any]]]) -> list[str]:
    problems = []
    for plan in traffic.plans:
        key = operation_id(plan)
        ids = {e["id"] for e in events.get(key, [])}
        want = expected_from_bus(plan, traffic.accepted)
        if want is None:  # the bus never carried enough of it to complete
            if ids:
                problems.append(f"{key}: completed, though RabbitMQ never had its list/end")
            continue
        if len(ids) != 1:
            problems.append(f"{key}: {len(ids)} distinct completed events (want 1)")
            continue
        data = events[key][0]["data"]
        got = {k: data.get(k) for k in want}
        got["failed_hosts"] = set(got["failed_hosts"] or ())
        diff = {k: (got[k], v) for k, v in want.items() if got[k] != v}
        if diff:
            problems.append(f"{key}: (got, want) {str(diff)[:300]}")
        if data.get("operation_id") != key:
            problems.append(f"{key}: operation_id {data.get('operation_id')}")
    return problems


@pytest.fixture
async def chain(
    amqp_url: str,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    tmp_path: Path,
) -> AsyncIterator[Chain]:
    """One worker and one bridge (durable exchange: ``--exchange-durable``, the Notifier with
    ``amqp_durable_queues``) on this test's topics."""
    settings = await worker_settings(
        grace_period_s=3.0, commit_interval_s=0.5, session_timeout_s=6, log_level=LOG_LEVEL
    )
    bridge = bridge_for(settings, amqp_url, unique_name("faults"), durable=True, prefetch=500)
    bridges = BridgeProcesses(bridge, tmp_path / "bridge.log")
    c = Chain(amqp_url, settings, bridge, bridges, start_worker, worker_settings)
    await c.add_worker(settings)
    await bridges.start()
    try:
        yield c
    finally:
        bridges.stop()
        delete_queue(amqp_url, "versioned_notifications.info")  # oslo's own, on our exchange


@runs
async def test_kafka_stopped_and_started_while_the_bridge_holds_records(
    run: int, chain: Chain, stack: StackSettings
) -> None:
    traffic = chain.traffic(two_operations(), rate=300)
    landed = await chain.mid_stream(traffic)
    assert await asyncio.to_thread(stop_broker, stack, "kafka")
    await asyncio.sleep(3)
    held = traffic.sent - landed.in_kafka
    await asyncio.to_thread(start_broker, stack, "kafka")
    assert held > 0, "nothing was between RabbitMQ and Kafka when Kafka stopped"
    print(f"\nKafka stopped 3 s with {held} confirmed records not in Kafka")
    await chain.finish(traffic, landed)


@runs
async def test_kafka_frozen_30_seconds(run: int, chain: Chain, stack: StackSettings) -> None:
    traffic = chain.traffic(two_operations(), rate=300)
    landed = await chain.mid_stream(traffic)
    pid = stack_kafka.running_pid(stack)
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(30)
    finally:
        os.kill(pid, signal.SIGCONT)
    await chain.finish(traffic, landed)


@runs
async def test_rabbitmq_restart_with_a_durable_exchange(
    run: int, chain: Chain, stack: StackSettings
) -> None:
    traffic = chain.traffic(two_operations(), rate=300)
    landed = await chain.mid_stream(traffic)
    assert await asyncio.to_thread(stop_broker, stack, "rabbitmq")
    await asyncio.sleep(1)
    await asyncio.to_thread(start_broker, stack, "rabbitmq")
    await chain.finish(traffic, landed)


@runs
async def test_bridge_sigkill_and_restart(run: int, chain: Chain) -> None:
    traffic = chain.traffic(two_operations(), rate=300)
    landed = await chain.mid_stream(traffic)
    await chain.bridges.kill()
    assert chain.bridges.current.returncode == -signal.SIGKILL
    await asyncio.sleep(1)
    await chain.bridges.start()
    await chain.finish(traffic, landed)


@runs
async def test_worker_sigkill_and_restart(run: int, chain: Chain) -> None:
    traffic = chain.traffic(two_operations(), rate=300)
    landed = await chain.mid_stream(traffic)
    chain.workers[0].kill()
    await chain.add_worker(chain.worker)  # same data dir and port: a restart
    await chain.finish(traffic, landed)


@runs
async def test_two_workers_one_sigkilled(run: int, chain: Chain) -> None:
    second = await chain.add_worker()
    await asyncio.to_thread(chain.workers[0].wait_ready, 2)
    traffic = chain.traffic(two_operations(), rate=300)
    landed = await chain.mid_stream(traffic)
    second.kill()
    await chain.finish(traffic, landed)
    assert chain.workers[0].wait_ready(4)["partitions"] == [0, 1, 2, 3]


@runs
async def test_burst_of_50_operations_of_1000_hosts(run: int, chain: Chain) -> None:
    plans = [
        SimulationPlan(hosts=1000, failing=frozenset({i + 1}), images=IMAGES) for i in range(50)
    ]
    traffic = chain.traffic(plans, rate=0)
    await chain.finish(traffic, None, wait_s=600)
