"""The whole-chain fault suites' shared parts: the two operations running during a fault, the
chain of processes (a worker and ``precache bridge`` processes on one test's topics), and the
judgement of a run (every confirmed message in Kafka, each completed event exact and once)."""

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from precache.audit.errors import AuditError
from precache.audit.reconcile import operation_key
from precache.bridge.settings import BridgeSettings
from precache.pipeline.settings import WorkerSettings
from precache.simulate.plan import SimulationPlan
from tests.support.amqp import delete_queue
from tests.support.chain import BridgeProcesses, audit, bridge_for, read, record_count
from tests.support.schemas import derived_event
from tests.support.traffic import Traffic, expected_from_bus, operation_id
from tests.support.worker import WorkerProcess

RUNS = int(os.environ.get("PRECACHE_FAULT_RUNS", "1"))
# the workers' log level: INFO shows faust's rebalance and changelog recovery steps
LOG_LEVEL = os.environ.get("PRECACHE_FAULT_LOG_LEVEL", "WARNING")

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


@contextlib.asynccontextmanager
async def open_chain(
    amqp_url: str,
    name: str,
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    log: Path,
    **bridge_overrides: Any,
) -> AsyncIterator[Chain]:
    """One worker and one bridge (durable exchange: ``--exchange-durable``, the Notifier with
    ``amqp_durable_queues``) on this test's topics; ``bridge_overrides``: its other settings."""
    settings = await worker_settings(
        grace_period_s=3.0, commit_interval_s=0.5, session_timeout_s=6, log_level=LOG_LEVEL
    )
    bridge = bridge_for(settings, amqp_url, name, durable=True, prefetch=500)
    bridge = bridge.model_copy(update=bridge_overrides)
    bridges = BridgeProcesses(bridge, log)
    c = Chain(amqp_url, settings, bridge, bridges, start_worker, worker_settings)
    await c.add_worker(settings)
    await bridges.start()
    try:
        yield c
    finally:
        bridges.stop()
        delete_queue(amqp_url, "versioned_notifications.info")  # oslo's own, on our exchange
