"""The worker's Prometheus metrics (``GET /metrics``), named and labelled as the bridge's are.

Counters are fed once per batch, after its events are in Kafka (:meth:`WorkerMetrics.account`),
from the counts the agent's outbox gathered: a batch redone in careful mode or left unsent is
never counted. What is a level rather than a count (operations by state, consumer lag) is read
at scrape time from this worker's own partitions: with several workers, sum over them.

No label grows with the traffic: reasons, outcomes and states are small fixed vocabularies and
``partition`` is bounded by the raw topic's partition count; never an operation id or a host.
"""

import bisect
import functools
import math
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from precache.pipeline.operation import Step, Summary

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# outbox count keys (pipeline.agents): "<kind>" or "<kind>:<label value>"
APPLIED = "applied"
HELD = "held"
HOSTS_REPORTED = "hosts_reported"
HOST_FAILED = "host_failed"
COMPLETED = "completed"
STALLED = "stalled"
SKIPPED = {"ignored": "irrelevant", "late": "late"}  # outbox key -> skipped reason label

BATCH_RECORDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
LAG_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
OUTCOMES = ("succeeded", "partial", "failed")
HOST_REASONS = ("image_failed", "no_report")


def effect_counts(step: Step, summary: Summary) -> list[str]:
    """The count keys of a step's events (the outbox gathers them per batch): failed hosts by
    reason, completions by outcome, stalls."""
    out = []
    for effect in step.effects:
        if effect.kind == "host_failed" and effect.host is not None:
            out.append(f"{HOST_FAILED}:{effect.host['reason']}")
        elif effect.kind == "completed":
            out.append(f"{COMPLETED}:{summary['outcome']}")
        elif effect.kind == "stalled":
            out.append(STALLED)
    return out


class WorkerMetrics:
    """One registry per worker, so several workers (or tests) in one process do not clash."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        counter = self._counter
        self.applied = counter(
            "notifications_applied", "notifications applied to an operation's state"
        )
        self.skipped = counter(
            "notifications_skipped",
            "notifications left out: irrelevant (not a cache_images notification), late (for "
            "an operation already completed or forgotten), unseen (dropped by the consumer)",
            "reason",
        )
        self.dead_lettered = counter(
            "notifications_dead_lettered",
            "records sent to the pipeline DLQ, by the reason header they carry",
            "reason",
        )
        self.held = counter(
            "notifications_held",
            "progress notifications held until their operation's host list came",
        )
        self.hosts_reported = counter(
            "hosts_reported", "hosts counted as reported (each host once per operation)"
        )
        self.hosts_failed = counter(
            "hosts_failed",
            "hosts counted as failed: image_failed (reported a failed image), no_report "
            "(never reported before the operation completed)",
            "reason",
        )
        self.completed = counter(
            "operations_completed", "operations completed, by outcome", "outcome"
        )
        self.stalled = counter(
            "operations_stalled",
            "times an operation was declared stalled (no progress for stall_after_s)",
        )
        self.batch_records = Histogram(
            "precache_worker_batch_records",
            "records in one batch the agent applied (raw notifications and ticks)",
            buckets=BATCH_RECORDS,
            registry=r,
        )
        self.batch_apply = Histogram(
            "precache_worker_batch_apply_seconds",
            "time to apply a batch, send its events and have Kafka confirm them",
            buckets=SECONDS,
            registry=r,
        )
        self.batch_age = Histogram(
            "precache_worker_batch_age_seconds",
            "age of a batch's newest record (its Kafka timestamp) when the agent took it",
            buckets=LAG_SECONDS,
            registry=r,
        )
        self.notification_lag = FastHistogram(
            "precache_worker_notification_lag_seconds",
            "from Nova's notification time to its events confirmed by Kafka (clocks of "
            "Nova's conductor and the worker)",
            LAG_SECONDS,
        )
        r.register(self.notification_lag)
        self.lag = Gauge(
            "precache_worker_consumer_lag_records",
            "raw records of an owned partition not yet applied (highwater - next offset)",
            ["partition"],
            registry=r,
        )
        self.skipped_unseen = 0  # set from the consumer at scrape time (pipeline.web)
        self.positions: dict[int, int] = {}  # raw partition -> next offset to apply
        for reason in HOST_REASONS:
            self.hosts_failed.labels(reason=reason)
        for outcome in OUTCOMES:
            self.completed.labels(outcome=outcome)
        for reason in ("irrelevant", "late", "unseen"):
            self.skipped.labels(reason=reason)
        self.dead_lettered.labels(reason="apply_error")

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        """``precache_worker_<name>`` in this worker's registry."""
        return Counter(f"precache_worker_{name}", documentation, labels, registry=self.registry)

    def observe_batch(
        self, records: int, apply_s: float, age_s: float, offsets: Mapping[int, int]
    ) -> None:
        """A batch is applied; ``offsets``: the highest raw offset it held per partition."""
        self.batch_records.observe(records)
        self.batch_apply.observe(apply_s)
        self.batch_age.observe(max(age_s, 0.0))
        for partition, offset in offsets.items():
            self.positions[partition] = max(self.positions.get(partition, 0), offset + 1)

    def account(
        self,
        counts: Mapping[str, int],
        reasons: Mapping[str, int],
        nova_times: Iterable[str],
        now: float,
    ) -> None:
        """A batch's counts once its events are in Kafka (see the module doc)."""
        self.applied.inc(counts.get(APPLIED, 0))
        self.held.inc(counts.get(HELD, 0))
        self.hosts_reported.inc(counts.get(HOSTS_REPORTED, 0))
        self.stalled.inc(counts.get(STALLED, 0))
        for key, label in SKIPPED.items():
            if counts.get(key):
                self.skipped.labels(reason=label).inc(counts[key])
        for key, n in counts.items():
            kind, _, label = key.partition(":")
            if kind == HOST_FAILED:
                self.hosts_failed.labels(reason=label).inc(n)
            elif kind == COMPLETED:
                self.completed.labels(outcome=label).inc(n)
        for reason, n in reasons.items():
            self.dead_lettered.labels(reason=reason).inc(n)
        self.notification_lag.observe_many(max(now - nova_seconds(at), 0.0) for at in nova_times)

    def set_lag(self, lags: Mapping[int, int]) -> None:
        """Consumer lag of the partitions owned now; a partition handed away disappears."""
        self.lag.clear()
        for partition, n in lags.items():
            self.lag.labels(partition=str(partition)).set(max(n, 0))

    def forget_positions(self) -> None:
        """Partitions moved: the positions of the next batches start afresh."""
        self.positions.clear()

    def render(self, summaries: Iterable[Summary], skipped_unseen: int) -> bytes:
        """The text format, with the levels of this scrape."""
        if skipped_unseen > self.skipped_unseen:
            self.skipped.labels(reason="unseen").inc(skipped_unseen - self.skipped_unseen)
            self.skipped_unseen = skipped_unseen
        levels = Levels(summaries)
        self.registry.register(levels)
        try:
            return generate_latest(self.registry)
        finally:
            self.registry.unregister(levels)


class FastHistogram(Collector):
    """A histogram for one observation per applied notification, read by the same event loop
    that writes it (no lock): a tenth of prometheus_client's ``Histogram.observe`` per value,
    measured at 3.8 us there. Its exposition is the library's (HistogramMetricFamily; a unit
    test compares both on the same values)."""

    def __init__(self, name: str, documentation: str, buckets: Iterable[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = sorted(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: over every bound (+Inf)
        self.sum = 0.0

    def observe_many(self, values: Iterable[float]) -> None:
        counts, bounds, total = self.counts, self.bounds, 0.0
        for value in values:
            counts[bisect.bisect_left(bounds, value)] += 1
            total += value
        self.sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        cumulative, running = [], 0
        for bound, n in zip([*self.bounds, math.inf], self.counts, strict=True):
            running += n
            cumulative.append(("+Inf" if bound == math.inf else repr(bound), running))
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], cumulative, sum_value=self.sum)
        yield family


class Levels(Collector):
    """Operations by state (and outcome, once completed) held by this worker's partitions."""

    def __init__(self, summaries: Iterable[Summary]) -> None:
        self.tally = Tally((s["state"], s.get("outcome") or "") for s in summaries)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "precache_worker_operations",
            "operations held by this worker's partitions, by state (completed ones until "
            "retention_s), and outcome once completed",
            labels=["state", "outcome"],
        )
        for state in ("running", "stalled"):
            family.add_metric([state, ""], self.tally.get((state, ""), 0))
        for outcome in OUTCOMES:
            family.add_metric(["completed", outcome], self.tally.get(("completed", outcome), 0))
        yield family

    def describe(self) -> Iterator[Any]:
        return iter(())  # no fixed description: registered for one scrape only


def nova_seconds(at: str) -> float:
    """Nova's canonical UTC text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``, pipeline.notifications) as
    epoch seconds. The whole seconds are parsed once per distinct second (a batch's
    notifications mostly share it): this runs for every applied notification."""
    return _whole_seconds(at[:19]) + float(at[19:-1] or 0)


@functools.lru_cache(maxsize=256)
def _whole_seconds(head: str) -> float:
    return datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()
