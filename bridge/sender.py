"""Records -> Kafka batches, with retries: what the bridge does between building and acking.

Records of one partition (a *shipment*) are appended to aiokafka batches and queued with
``send_batch``; when Kafka confirms a batch, ``on_sent`` gets it (the service acks). A batch
Kafka refused is sent again after a backoff, unless its AMQP connection is gone (then RabbitMQ
redelivers the messages), so nothing is acked that Kafka did not take.
"""

import asyncio
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka.errors import KafkaError

from bridge.metrics import BridgeMetrics
from bridge.producer import KafkaSink
from bridge.records import Item
from bridge.settings import BridgeSettings

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Shipment:
    """Records bound for one partition, delivered on AMQP connection ``epoch``."""

    epoch: int
    topic: str
    partition: int
    items: list[Item]


class BatchSender:
    def __init__(
        self,
        settings: BridgeSettings,
        sink: KafkaSink,
        metrics: BridgeMetrics,
        on_sent: Callable[[Shipment], None],
        is_current: Callable[[int], bool],
    ) -> None:
        self._settings = settings
        self._sink = sink
        self._metrics = metrics
        self._on_sent = on_sent
        self._is_current = is_current
        self._retries: set[asyncio.Task[None]] = set()

    async def send(self, shipment: Shipment, attempt: int = 0) -> None:
        """Fill batches with the shipment's records and queue them, without waiting for Kafka."""
        batch = self._sink.create_batch()
        in_batch: list[Item] = []
        for item in shipment.items:
            fits = _append(batch, item)
            if fits is None and in_batch:
                await self._submit(dataclasses.replace(shipment, items=in_batch), batch, attempt)
                batch, in_batch = self._sink.create_batch(), []
                fits = _append(batch, item)
            if fits is None:  # larger than a whole batch: aiokafka sends it alone
                await self._submit(dataclasses.replace(shipment, items=[item]), None, attempt)
                continue
            in_batch.append(item)
        if in_batch:
            await self._submit(dataclasses.replace(shipment, items=in_batch), batch, attempt)

    async def cancel(self) -> None:
        """Drop pending retries (shutdown): their messages are unacked and come back."""
        for task in self._retries:
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)

    async def _submit(self, shipment: Shipment, batch: Any, attempt: int) -> None:
        try:
            if batch is None:
                future = await self._sink.send(shipment.items[0][1])
            else:
                future = await self._sink.send_batch(batch, shipment.topic, shipment.partition)
        except KafkaError as exc:
            self._retry(shipment, attempt, exc)
            return
        future.add_done_callback(functools.partial(self._done, shipment, attempt))

    def _done(self, shipment: Shipment, attempt: int, future: "asyncio.Future[Any]") -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._retry(shipment, attempt, exc)
            return
        self._on_sent(shipment)

    def _retry(self, shipment: Shipment, attempt: int, exc: BaseException) -> None:
        if not self._is_current(shipment.epoch):
            return
        delay = min(0.5 * 2**attempt, self._settings.retry_backoff_max_s)
        self._metrics.send_retries.inc(len(shipment.items))
        log.warning(
            "kafka send failed, will retry",
            error=repr(exc),
            records=len(shipment.items),
            retry_in_s=delay,
        )
        task = asyncio.get_running_loop().create_task(self._later(delay, shipment, attempt + 1))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _later(self, delay: float, shipment: Shipment, attempt: int) -> None:
        await asyncio.sleep(delay)
        await self.send(shipment, attempt)


def _append(batch: Any, item: Item) -> Any:
    record = item[1]
    return batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers)
