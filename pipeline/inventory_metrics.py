"""The image cache inventory on the worker's ``/metrics`` (docs/metrics.md, docs/inventory.md).

Levels of this worker's own partitions, as the operations' (Prometheus sums over the
workers): entries by region and state, and the images, and their copies, expiring within 1 h
and 6 h. They are read from the counts the store keeps as entries change
(:mod:`pipeline.inventory_tally`): a scrape costs per image, never per host. While the table
is being recovered no level is given (``precache_worker_inventory_ready`` 0) rather than
zeros an alert would trust. The agent's counters come from :class:`InventoryStats`.

Labels: ``region`` (one per bridge's region: bounded by the deployment), ``state``, ``within``,
``kind`` and ``reason``: fixed vocabularies. Never a host or an image.
"""

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from precache.pipeline.inventory import Policy
from precache.pipeline.inventory_agent import BAD_RECORD, MEMBERSHIP, TOUCH, InventoryStats
from precache.pipeline.inventory_store import InventoryStore
from precache.pipeline.inventory_tally import expiring_within

WITHIN = {"1h": 3_600.0, "6h": 21_600.0}  # the ``within`` label: the dashboard's and the alert's


class InventoryMetrics(Collector):
    """Collected at every scrape of the worker's registry."""

    def __init__(
        self,
        store: InventoryStore,
        stats: InventoryStats,
        policy: Policy,
        owned: Callable[[], set[int]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.stats, self.policy = store, stats, policy
        self.owned = owned
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        yield from self.levels()
        yield from self.counters()
        yield from self.stats.apply_s.collect()

    def levels(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "precache_worker_inventory_ready",
            "1 once this worker's inventory table is recovered and its levels are given",
        )
        entries = GaugeMetricFamily(
            "precache_worker_inventory_entries",
            "(host, image) entries of this worker's partitions, by the state of their newest "
            "touch (as GET /images counts them)",
            labels=["region", "state"],
        )
        images = GaugeMetricFamily(
            "precache_worker_images_expiring",
            "images with at least one cached copy expiring within 1h or 6h and not yet "
            "presumed purged (gone_by ahead), per region",
            labels=["region", "within"],
        )
        copies = GaugeMetricFamily(
            "precache_worker_image_copies_expiring",
            "cached (host, image) copies expiring within 1h or 6h, not yet presumed purged",
            labels=["region", "within"],
        )
        ready.add_metric([], 1 if self.store.ready else 0)
        if self.store.ready:
            for region, counts in sorted(self.by_region().items()):
                entries.add_metric([region, "cached"], counts["cached"])
                entries.add_metric([region, "failed"], counts["failed"])
                for within in WITHIN:
                    images.add_metric([region, within], counts[f"images:{within}"])
                    copies.add_metric([region, within], counts[f"copies:{within}"])
        yield from (ready, entries, images, copies)

    def by_region(self) -> dict[str, dict[str, int]]:
        """Per region: entries by state, images and copies by window (one pass over images)."""
        now = self.clock()
        out: dict[str, dict[str, int]] = {}
        for (region, _), tally in self.store.tallies(self.owned()):
            counts = out.get(region)
            if counts is None:
                counts = out[region] = dict.fromkeys(
                    [
                        "cached",
                        "failed",
                        *(f"{k}:{w}" for k in ("images", "copies") for w in WITHIN),
                    ],
                    0,
                )
            counts["cached"] += tally.cached
            counts["failed"] += tally.failed
            found = expiring_within(tally, self.policy.of(region), now, list(WITHIN.values()))
            for within, n in zip(WITHIN, found, strict=True):
                counts[f"copies:{within}"] += n
                counts[f"images:{within}"] += n > 0
        return out

    def counters(self) -> Iterator[Metric]:
        s = self.stats
        for name, documentation, counts in (
            ("applied", "inventory inputs (touches, memberships) that changed it", s.applied),
            ("skipped", "inventory inputs that changed nothing: a duplicate or an older one",
             s.skipped),
        ):  # fmt: skip
            family = CounterMetricFamily(
                f"precache_worker_inventory_inputs_{name}", documentation, labels=["kind"]
            )
            for kind in (TOUCH, MEMBERSHIP):
                family.add_metric([kind], counts.get(kind, 0))
            yield family
        dead = CounterMetricFamily(
            "precache_worker_inventory_dead_lettered",
            "internal inventory records sent to the pipeline DLQ, by reason",
            labels=["reason"],
        )
        for reason, n in {BAD_RECORD: 0, **s.dead}.items():
            dead.add_metric([reason], n)
        yield dead

    def describe(self) -> Iterator[Any]:
        return iter(())  # the families depend on the state: collected, not described
