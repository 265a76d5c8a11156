"""Records -> Kafka batches, with retries: what the bridge does between building and acking.

Records of one partition (a *shipment*) are appended to aiokafka batches and queued with
``send_batch``; when Kafka confirms a batch, ``on_sent`` gets it (the service acks). A batch
Kafka refused is sent again after a backoff, unless its AMQP connection is gone (then RabbitMQ
redelivers the messages), so nothing is acked that Kafka did not take.

While a partition has a batch in flight, further shipments for it are appended to one open
batch, sent when the one in flight is confirmed. aiokafka sends one batch per partition per
request and keeps one request per partition in flight, so without this every small shipment
waited for a round trip of its own: throughput was hand-over size / Kafka's latency, which
halved whenever the brokers got slower. Now a batch holds what arrived during the round trip.
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


@dataclasses.dataclass(slots=True)
class _Open:
    """The batch a partition fills while its previous batch is in flight."""

    batch: Any
    shipments: list[Shipment]
    attempt: int = 0


Partition = tuple[str, int]


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
        self._in_flight: dict[Partition, int] = {}  # batches sent, not yet confirmed
        self._open: dict[Partition, _Open] = {}

    async def send(self, shipment: Shipment, attempt: int = 0) -> None:
        """Fill batches with the shipment's records and queue them, without waiting for Kafka:
        at once if its partition has nothing in flight, else into the partition's open batch."""
        where = (shipment.topic, shipment.partition)
        open_ = self._open.pop(where, None)
        if open_ is None:
            open_ = _Open(self._sink.create_batch(), [], attempt)
        open_.attempt = max(open_.attempt, attempt)
        in_batch: list[Item] = []
        for item in shipment.items:
            fits = _append(open_.batch, item)
            if fits is None and (in_batch or open_.shipments):
                if in_batch:
                    open_.shipments.append(dataclasses.replace(shipment, items=in_batch))
                await self._submit(open_)
                open_, in_batch = _Open(self._sink.create_batch(), [], attempt), []
                fits = _append(open_.batch, item)
            if fits is None:  # larger than a whole batch: aiokafka sends it alone
                alone = _Open(None, [dataclasses.replace(shipment, items=[item])], attempt)
                await self._submit(alone)
                continue
            in_batch.append(item)
        if in_batch:
            open_.shipments.append(dataclasses.replace(shipment, items=in_batch))
        if not open_.shipments:
            return
        # decided only now: the awaits above may have landed a batch, or a retry opened one
        if self._in_flight.get(where, 0) > 0 and where not in self._open:
            self._open[where] = open_  # sent when the batch in flight lands (``_landed``)
        else:
            await self._submit(open_)

    async def cancel(self) -> None:
        """Drop pending retries (shutdown): their messages are unacked and come back."""
        for task in self._retries:
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)

    async def _submit(self, open_: _Open) -> None:
        first = open_.shipments[0]
        where = (first.topic, first.partition)
        self._in_flight[where] = self._in_flight.get(where, 0) + 1  # before any await: order
        try:
            if open_.batch is None:
                future = await self._sink.send(first.items[0][1])
            else:
                future = await self._sink.send_batch(open_.batch, first.topic, first.partition)
        except KafkaError as exc:
            self._landed(where)
            for shipment in open_.shipments:
                self._retry(shipment, open_.attempt, exc)
            return
        future.add_done_callback(functools.partial(self._done, where, open_))

    def _landed(self, where: Partition) -> None:
        """A batch of ``where`` is confirmed or failed: the open one may go now."""
        self._in_flight[where] -= 1
        if not self._in_flight[where] and where in self._open:
            self._spawn(self._send_open(where))

    async def _send_open(self, where: Partition) -> None:
        if not self._in_flight.get(where) and where in self._open:
            await self._submit(self._open.pop(where))

    def _done(self, where: Partition, open_: _Open, future: "asyncio.Future[Any]") -> None:
        self._landed(where)
        if future.cancelled():
            return
        exc = future.exception()
        for shipment in open_.shipments:
            if exc is not None:
                self._retry(shipment, open_.attempt, exc)
            else:
                self._on_sent(shipment)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

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
        self._spawn(self._later(delay, shipment, attempt + 1))

    async def _later(self, delay: float, shipment: Shipment, attempt: int) -> None:
        await asyncio.sleep(delay)
        await self.send(shipment, attempt)


def _append(batch: Any, item: Item) -> Any:
    record = item[1]
    return batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers)
