"""``GET /metrics`` of a real worker after a real run (oslo Notifier -> RabbitMQ -> bridge ->
Kafka -> worker), read with prometheus_client's parser: the counts are the run's."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import start_http_server
from pydantic import SecretStr

from precache.pipeline.settings import WorkerSettings
from precache.simulate import SimulateSettings, SimulationPlan
from precache.simulate.conductor import simulate_operation
from tests.support.bridge import running_bridge
from tests.support.chain import bridge_for
from tests.support.kafka import completed_ids, read_until
from tests.support.observability import alert_exprs, grafana_exprs, metric_names
from tests.support.scrape import Scrape, scrape
from tests.support.worker import WorkerProcess, free_port

pytestmark = pytest.mark.integration

HOSTS = 12
FAILING = frozenset({2, 3})  # image_failed
NO_REPORT = frozenset({5})  # no progress at all: no_report once the grace period ends


async def test_worker_metrics_count_a_real_run(
    amqp_url: str,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    worker = await worker_settings(raw_partitions=2)
    process = start_worker(worker)
    process.wait_ready(partitions=2)
    before = scrape(process.url + "/metrics")
    assert before.value("precache_worker_operations", state="running") == 0
    assert before.total("precache_worker_notifications_applied_total") == 0

    bridge = bridge_for(worker, amqp_url, unique_name("metrics")).model_copy(
        update={"raw_partitions": 2}
    )
    plan = SimulationPlan(hosts=HOSTS, failing=FAILING, no_report=NO_REPORT)
    op_id = f"region-a/{plan.aggregate_uuid}/{plan.request_id}"
    async with running_bridge(bridge) as running:
        simulate = SimulateSettings(amqp_url=SecretStr(amqp_url), control_exchange=bridge.exchange)
        await asyncio.to_thread(simulate_operation, simulate, plan)
        await read_until(
            worker.kafka_bootstrap,
            [worker.completed_topic],
            lambda evs: op_id in completed_ids(evs),
        )
        # counters follow the batch's events into Kafka: the completion may be read just before
        # the bridge's registry on prometheus_client's own server, as `precache bridge` serves it
        port = free_port()
        server, thread = start_http_server(port, "127.0.0.1", registry=running.metrics.registry)
        try:
            bridge_scrape = await asyncio.to_thread(scrape, f"http://127.0.0.1:{port}/metrics")
        finally:
            server.shutdown()
            thread.join()
        after = await until(
            process, lambda s: s.total("precache_worker_operations_completed_total") == 1
        )

    sent = 1 + (HOSTS - len(NO_REPORT)) + 1  # start, a progress per reporting host, end
    assert after.value("precache_worker_notifications_applied_total") == sent
    assert after.value("precache_worker_hosts_reported_total") == HOSTS - len(NO_REPORT)
    assert after.value("precache_worker_hosts_failed_total", reason="image_failed") == len(FAILING)
    assert after.value("precache_worker_hosts_failed_total", reason="no_report") == len(NO_REPORT)
    assert after.value("precache_worker_operations_completed_total", outcome="partial") == 1
    assert after.value("precache_worker_operations_completed_total", outcome="succeeded") == 0
    assert after.value("precache_worker_operations", state="completed", outcome="partial") == 1
    assert after.value("precache_worker_operations", state="running") == 0
    assert after.value("precache_worker_operations", state="stalled") == 0
    assert after.value("precache_worker_operations_stalled_total") == 0
    assert after.total("precache_worker_notifications_dead_lettered_total") == 0
    # one lag observation per applied notification, each after Nova's time
    assert after.value("precache_worker_notification_lag_seconds_count") == sent
    assert after.value("precache_worker_notification_lag_seconds_sum") > 0
    # every raw record is in a batch; ticks are batched too
    assert after.value("precache_worker_batch_records_sum") >= sent
    assert after.value("precache_worker_batch_apply_seconds_count") == after.value(
        "precache_worker_batch_records_count"
    )
    # both raw partitions are owned and every record of them applied
    lags = [s for s in after.samples if s.name == "precache_worker_consumer_lag_records"]
    assert sorted(s.labels["partition"] for s in lags) == ["0", "1"]
    assert [s.value for s in lags] == [0.0, 0.0]
    # the worker's own /stats agrees
    _, stats = process.get("/stats")
    assert stats["applied"] == sent

    # every series the Grafana dashboard (docker-compose.yml) draws and every example alert
    # reads is in these real scrapes (the worker's inventory is fed by the same run)
    used = metric_names(grafana_exprs()) | metric_names(list(alert_exprs().values()))
    assert used <= after.names() | bridge_scrape.names(), (
        used - after.names() - bridge_scrape.names()
    )
    assert bridge_scrape.value("precache_bridge_forwarded_total", topic=worker.raw_topic) == sent


async def until(
    process: WorkerProcess, done: Callable[[Scrape], bool], wait_s: float = 30
) -> Scrape:
    deadline = time.monotonic() + wait_s
    while True:
        found = await asyncio.to_thread(scrape, process.url + "/metrics")
        if done(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)
