"""``GET /metrics``: the worker's Prometheus metrics (:mod:`pipeline.metrics`) on its web port.

Levels are this worker's own: the operations of the partitions it owns, the consumer lag of
those partitions, the inventory's entries in them. Unlike ``/operations`` nothing is fanned
out to the other workers: Prometheus scrapes each worker and sums (docs/metrics.md).
"""

from typing import Any

import structlog
from aiokafka import TopicPartition

from precache.pipeline.context import Pipeline
from precache.pipeline.inventory_metrics import InventoryMetrics
from precache.pipeline.metrics import CONTENT_TYPE
from precache.pipeline.web import owned_partitions

log = structlog.get_logger(__name__)


def attach(p: Pipeline) -> None:
    if p.inventory is not None:  # its levels and counters (pipeline.inventory_metrics)
        inv = p.inventory
        collector = InventoryMetrics(inv.store, inv.stats, inv.policy, lambda: owned_partitions(p))
        p.metrics.registry.register(collector)

    async def metrics_page(view: Any, request: Any) -> Any:
        owned = owned_partitions(p)
        p.metrics.set_lag(await consumer_lag(p, owned))
        summaries = (s for s in p.store.summaries() if s["partition"] in owned)
        skipped = p.skips.dropped  # dropped by the consumer, unseen
        body = p.metrics.render(summaries, skipped)
        return view.bytes(body, headers={"Content-Type": CONTENT_TYPE})

    p.app.page("/metrics", name="metrics")(metrics_page)


async def consumer_lag(p: Pipeline, owned: set[int]) -> dict[int, int]:
    """Per owned raw partition: records between the next one to apply and the highwater.

    The next one is the agent's (past the last batch applied here), or, before this worker
    applied any record of the partition, the consumer's fetch position (the committed offset
    it sought to). A partition whose highwater the consumer does not know yet is left out.
    """
    consumer = p.app.consumer
    lags: dict[int, int] = {}
    for partition in sorted(owned):
        tp = TopicPartition(p.settings.raw_topic, partition)
        try:
            highwater = consumer.highwater(tp)
            position = p.metrics.positions.get(partition)
            if position is None:
                position = await consumer.position(tp)
        except Exception as exc:  # a partition being revoked right now: no figure this time
            log.debug("no consumer lag", partition=partition, error=repr(exc))
            continue
        if highwater is not None and position is not None:
            lags[partition] = highwater - position
    return lags
