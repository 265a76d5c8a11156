"""Two bridges on one single-active-consumer queue while a 2,000-host operation runs (oslo's
Notifier, as in ``test_system_faults``): the active one is SIGKILLed, or SIGSTOPped (frozen:
RabbitMQ drops its connection only after the heartbeat timeout). The standby takes over,
every message id RabbitMQ accepted reaches Kafka, each completed event is exact and emitted
once. The failover time (the fault to the first record the standby produced, by Kafka's
record timestamps) is printed; ``bench failover`` measures it for bench/README.md.

The bridges run with ``--amqp-heartbeat-s 5``. No broker is touched here, but the suite is
``faults``: run with ``scripts/test-faults --runs 3 tests/integration/test_standby_faults.py``.
"""

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from precache.pipeline.settings import WorkerSettings
from tests.support.chain import BridgeProcesses, record_count, tracebacks
from tests.support.faults import RUNS, Chain, open_chain, two_operations
from tests.support.health import Answer, probe, wait_for
from tests.support.kafka import read_topic
from tests.support.worker import WorkerProcess, free_port

runs = pytest.mark.parametrize("run", range(1, RUNS + 1))

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(900)]

HEARTBEAT_S = 5


@dataclass
class Pair:
    """The chain with bridge-a (active: it consumed first) and bridge-b (standby)."""

    chain: Chain
    standby: BridgeProcesses

    @property
    def a_port(self) -> int:
        return self.chain.bridge.metrics_port

    @property
    def b_port(self) -> int:
        return self.standby.settings.metrics_port


def role(port: int) -> str | None:
    answer = probe(port, "/readyz")
    return None if answer is None else answer[1].get("role")


def role_is(wanted: str) -> Callable[[Answer], bool]:
    return lambda answer: answer[0] == 200 and answer[1].get("role") == wanted


@pytest.fixture
async def pair(
    amqp_url: str,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    tmp_path: Path,
) -> AsyncIterator[Pair]:
    async with open_chain(
        amqp_url,
        unique_name("standby"),
        worker_settings,
        start_worker,
        tmp_path / "bridge-a.log",
        single_active_consumer=True,
        amqp_heartbeat_s=HEARTBEAT_S,
        bridge_id="bridge-a",
        metrics_port=free_port(),
    ) as chain:
        b = chain.bridge.model_copy(update={"bridge_id": "bridge-b", "metrics_port": free_port()})
        standby = BridgeProcesses(b, tmp_path / "bridge-b.log")
        await standby.start()
        p = Pair(chain, standby)
        await asyncio.to_thread(wait_for, p.b_port, "/readyz", role_is("standby"))
        try:
            yield p
        finally:
            standby.stop()
        logs = tmp_path / "bridge-a.log", tmp_path / "bridge-b.log"
        assert tracebacks(*logs) == []
        # the 5 s heartbeat never cost the standby its connection
        assert "amqp connection lost" not in logs[1].read_text()


async def first_record_of(chain: Chain, source: str) -> float:
    """Kafka's timestamp (s) of the first raw record ``source`` produced."""
    settings = chain.worker
    total = await record_count(settings.kafka_bootstrap, settings.raw_topic)
    records = await read_topic(
        settings.kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= total, within=60
    )
    stamps = [r.timestamp for r in records if dict(r.headers)["source"].decode() == source]
    assert stamps, f"no record from {source}"
    return float(min(stamps)) / 1000


async def wait_for_records_of(chain: Chain, source: str, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            await first_record_of(chain, source)
            return
        except AssertionError:
            assert time.monotonic() < deadline, f"{source} produced nothing in {within} s"
            await asyncio.sleep(1)


@runs
async def test_active_bridge_sigkilled_the_standby_takes_over(run: int, pair: Pair) -> None:
    chain = pair.chain
    traffic = chain.traffic(two_operations(), rate=300)
    landed = await chain.mid_stream(traffic)
    assert role(pair.a_port) == "active"
    assert role(pair.b_port) == "standby"
    killed_at = time.time()
    await chain.bridges.kill()
    assert chain.bridges.current.returncode == -signal.SIGKILL
    await chain.finish(traffic, landed)
    assert role(pair.b_port) == "active"
    failover = await first_record_of(chain, "bridge-b") - killed_at
    print(f"\nfailover after SIGKILL: {failover:.2f} s (kill to the standby's first record)")


@runs
async def test_active_bridge_frozen_the_standby_takes_over(run: int, pair: Pair) -> None:
    chain = pair.chain
    traffic = chain.traffic(two_operations(), rate=300)
    landed = await chain.mid_stream(traffic)
    assert role(pair.a_port) == "active"
    assert role(pair.b_port) == "standby"
    frozen = chain.bridges.current
    stopped_at = time.time()
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        await wait_for_records_of(chain, "bridge-b", within=6 * HEARTBEAT_S + 30)
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    failover = await first_record_of(chain, "bridge-b") - stopped_at
    await chain.finish(traffic, landed)
    assert role(pair.b_port) == "active"
    # thawed: RabbitMQ closed its connection; it connects again and waits behind bridge-b
    await asyncio.to_thread(wait_for, pair.a_port, "/readyz", role_is("standby"))
    print(
        f"\nfailover after SIGSTOP: {failover:.2f} s (freeze to the standby's first record; "
        f"heartbeat {HEARTBEAT_S} s)"
    )
