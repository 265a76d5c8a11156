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
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from precache.pipeline.settings import WorkerSettings
from precache.simulate.plan import SimulationPlan
from precache.stack import StackSettings, start_broker, stop_broker
from precache.stack import kafka as stack_kafka
from tests.support.faults import IMAGES, RUNS, Chain, open_chain, two_operations
from tests.support.worker import WorkerProcess

runs = pytest.mark.parametrize("run", range(1, RUNS + 1))

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(900)]


@pytest.fixture
async def chain(
    amqp_url: str,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    tmp_path: Path,
) -> AsyncIterator[Chain]:
    """One worker and one bridge on this test's topics (``open_chain``)."""
    name = unique_name("faults")
    async with open_chain(
        amqp_url, name, worker_settings, start_worker, tmp_path / "bridge.log"
    ) as c:
        yield c


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
