"""The worker's metrics (pipeline.metrics): names and labels by Prometheus's conventions, and
a batch's outbox counts landing in the right series. (The counts of a real run through the
whole chain: tests/integration/test_worker_metrics.py.)"""

from typing import Any, cast

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from precache.pipeline.metrics import (
    LAG_SECONDS,
    FastHistogram,
    WorkerMetrics,
    effect_counts,
    nova_seconds,
)
from precache.pipeline.operation import Effect, HostFailure, Step, Summary
from tests.support.scrape import Scrape

BOUNDED_LABELS = {"state", "outcome", "reason", "partition", "le"}


def parse(metrics: WorkerMetrics, summaries: list[dict[str, str]] | None = None) -> Scrape:
    text = metrics.render(cast(list[Summary], summaries or []), 0).decode()
    families = list(text_string_to_metric_families(text))
    return Scrape({f.name for f in families}, [s for f in families for s in f.samples])


def test_names_units_and_labels_follow_the_conventions() -> None:
    metrics = WorkerMetrics()
    metrics.set_lag({0: 3})
    text = metrics.render([], 0).decode()
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("precache_worker_"), family.name
        if family.type == "counter":
            assert all(s.name == family.name + "_total" for s in family.samples), family.name
        if family.type == "histogram":
            assert family.name.endswith(("_seconds", "_records")), family.name
        for sample in family.samples:
            assert set(sample.labels) <= BOUNDED_LABELS, (family.name, sample.labels)


def test_a_batch_lands_in_its_series() -> None:
    metrics = WorkerMetrics()
    counts = {
        "applied": 5,
        "ignored": 2,
        "late": 1,
        "held": 1,
        "hosts_reported": 4,
        "host_failed:image_failed": 2,
        "host_failed:no_report": 1,
        "completed:partial": 1,
        "stalled": 1,
        "ticks": 3,
    }
    now = nova_seconds("2026-12-06T03:00:10.000000Z")
    metrics.account(counts, {"bad_timestamp": 2}, ["2026-12-06T03:00:00.000000Z"] * 5, now)
    got = parse(metrics)
    assert got.value("precache_worker_notifications_applied_total") == 5
    assert got.value("precache_worker_notifications_skipped_total", reason="irrelevant") == 2
    assert got.value("precache_worker_notifications_skipped_total", reason="late") == 1
    assert got.value("precache_worker_notifications_held_total") == 1
    assert got.value("precache_worker_hosts_reported_total") == 4
    assert got.value("precache_worker_hosts_failed_total", reason="image_failed") == 2
    assert got.value("precache_worker_hosts_failed_total", reason="no_report") == 1
    assert got.value("precache_worker_operations_completed_total", outcome="partial") == 1
    assert got.value("precache_worker_operations_stalled_total") == 1
    assert (
        got.value("precache_worker_notifications_dead_lettered_total", reason="bad_timestamp") == 2
    )
    assert got.value("precache_worker_notification_lag_seconds_count") == 5
    assert got.value("precache_worker_notification_lag_seconds_sum") == 50.0
    assert got.value("precache_worker_notification_lag_seconds_bucket", le="10.0") == 5
    assert got.value("precache_worker_notification_lag_seconds_bucket", le="5.0") == 0


def test_operations_by_state_are_this_scrapes_levels() -> None:
    metrics = WorkerMetrics()
    held = [
        {"state": "running", "outcome": None},
        {"state": "running", "outcome": None},
        {"state": "stalled", "outcome": None},
        {"state": "completed", "outcome": "failed"},
    ]
    got = parse(metrics, held)  # type: ignore[arg-type]
    assert got.value("precache_worker_operations", state="running") == 2
    assert got.value("precache_worker_operations", state="stalled") == 1
    assert got.value("precache_worker_operations", state="completed", outcome="failed") == 1
    assert got.value("precache_worker_operations", state="completed", outcome="succeeded") == 0
    assert parse(metrics).value("precache_worker_operations", state="running") == 0  # not kept


def test_consumer_lag_shows_the_partitions_owned_now() -> None:
    metrics = WorkerMetrics()
    metrics.set_lag({0: 5, 1: 0})
    metrics.set_lag({1: 7})  # partition 0 was handed to another worker
    lags = [s for s in parse(metrics).samples if s.name == "precache_worker_consumer_lag_records"]
    assert [(s.labels["partition"], s.value) for s in lags] == [("1", 7.0)]


def test_unseen_skips_follow_the_consumers_count() -> None:
    metrics = WorkerMetrics()
    metrics.render([], 3)
    text = metrics.render([], 5).decode()
    assert 'precache_worker_notifications_skipped_total{reason="unseen"} 5.0' in text


def test_nova_time_in_epoch_seconds() -> None:
    assert nova_seconds("1970-01-01T00:00:01.500000Z") == 1.5
    assert nova_seconds("2026-12-06T03:00:00.000001Z") == 1796526000.000001


def test_batch_positions_give_the_next_offset_per_partition() -> None:
    metrics = WorkerMetrics()
    metrics.observe_batch(3, 0.01, 0.2, {0: 41, 2: 7})
    metrics.observe_batch(1, 0.01, -0.5, {0: 44})  # a clock behind Kafka's: age 0, not < 0
    assert metrics.positions == {0: 45, 2: 8}
    got = parse(metrics)
    assert got.value("precache_worker_batch_records_sum") == 4
    assert got.value("precache_worker_batch_age_seconds_sum") == 0.2


def test_effect_counts_name_each_event_of_a_step() -> None:
    failed = cast(HostFailure, {"host": "h1", "reason": "image_failed"})
    missing = cast(HostFailure, {"host": "h2", "reason": "no_report"})
    step = Step(
        op_id="r/a/q",
        effects=[
            Effect("status"),
            Effect("host_failed", failed),
            Effect("host_failed", missing),
            Effect("completed"),
        ],
    )
    assert effect_counts(step, cast(Summary, {"outcome": "partial"})) == [
        "host_failed:image_failed",
        "host_failed:no_report",
        "completed:partial",
    ]
    stalled = Step(op_id="r/a/q", effects=[Effect("stalled")])
    assert effect_counts(stalled, cast(Summary, {})) == ["stalled"]


def test_the_fast_histogram_exposes_what_prometheus_clients_histogram_does() -> None:
    """FastHistogram replaces prometheus_client's Histogram on the per-notification path:
    the same values must give the same buckets, count and sum (fails if the library's
    exposition of a histogram changes)."""
    values = [0.0, 0.05, 0.07, 1.0, 2.5, 9.99, 59.0, 3600.0, 7200.0, 0.3]
    library = Histogram("lag_seconds", "x", buckets=LAG_SECONDS, registry=CollectorRegistry())
    ours = FastHistogram("lag_seconds", "x", LAG_SECONDS)
    for value in values:
        library.observe(value)
    ours.observe_many(values)

    def samples(collector: Any) -> list[tuple[str, dict[str, str], float]]:
        return [
            (s.name, s.labels, s.value)
            for family in collector.collect()
            for s in family.samples
            if not s.name.endswith("_created")
        ]

    assert samples(ours) == samples(library)
