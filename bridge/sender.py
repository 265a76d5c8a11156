"""Records -> Kafka batches: what the bridge does between building and acking.

Records of one partition (a *shipment*) are appended to aiokafka batches and queued with
``send_batch``; when Kafka confirms a batch, ``on_sent`` gets each of its shipments (the
service acks them). A batch that fails goes to ``on_failed`` and is not retried here: the
service decides (``kafka_errors``) and, since the producer's sequence is broken by then,
replaces the producer and this sender, and sends everything unconfirmed again.

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

from precache.bridge.producer import KafkaSink
from precache.bridge.records import Item
from precache.tasks import cancel_and_wait

CANCEL_TIMEOUT_S = 5.0  # hand-overs are sends to aiokafka's buffer; more is a stuck task


@dataclasses.dataclass(frozen=True, slots=True)
class Shipment:
    """Records bound for one partition, delivered on AMQP connection ``epoch``.

    ``alone``: each record in a batch of its own (Kafka refused a batch holding one of them,
    and only a batch of one tells which).
    """

    epoch: int
    topic: str
    partition: int
    items: list[Item]
    alone: bool = False


@dataclasses.dataclass(slots=True)
class _Open:
    """A batch being filled (``batch`` None: one record larger than a batch, sent alone)."""

    batch: Any
    shipments: list[Shipment]


Partition = tuple[str, int]
OnSent = Callable[[Shipment], None]
OnFailed = Callable[[int, list[Shipment], BaseException], None]


class BatchSender:
    """Sends shipments through one producer generation; ``retire`` makes it send nothing more."""

    def __init__(
        self, sink: KafkaSink, generation: int, on_sent: OnSent, on_failed: OnFailed
    ) -> None:
        self._sink = sink
        self.generation = generation
        self._on_sent = on_sent
        self._on_failed = on_failed
        self._retired = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: dict[Partition, int] = {}  # batches sent, not yet confirmed
        self._open: dict[Partition, _Open] = {}

    def retire(self) -> None:
        """Send nothing more (open batches are dropped: the service sends their records
        again); confirmations and failures of what is in flight are still reported."""
        self._retired = True
        self._open.clear()

    @property
    def retired(self) -> bool:
        return self._retired

    async def send(self, shipment: Shipment) -> None:
        """Fill batches with the shipment's records and queue them, without waiting for Kafka:
        at once if its partition has nothing in flight, else into the partition's open batch."""
        if self._retired:
            return
        if shipment.alone:
            await self._send_alone(shipment)
            return
        where = (shipment.topic, shipment.partition)
        open_ = self._open.pop(where, None) or _Open(self._sink.create_batch(), [])
        in_batch: list[Item] = []
        for item in shipment.items:
            fits = _append(open_.batch, item)
            if fits is None and (in_batch or open_.shipments):
                if in_batch:
                    open_.shipments.append(dataclasses.replace(shipment, items=in_batch))
                await self._submit(open_)
                if self.retired:
                    return
                open_, in_batch = _Open(self._sink.create_batch(), []), []
                fits = _append(open_.batch, item)
            if fits is None:  # larger than a whole batch: aiokafka sends it alone
                await self._submit(_Open(None, [dataclasses.replace(shipment, items=[item])]))
                if self.retired:
                    return
                continue
            in_batch.append(item)
        if in_batch:
            open_.shipments.append(dataclasses.replace(shipment, items=in_batch))
        if not open_.shipments or self.retired:
            return
        # decided only now: the awaits above may have landed a batch
        if self._in_flight.get(where, 0) > 0 and where not in self._open:
            self._open[where] = open_  # sent when the batch in flight lands (``_landed``)
        else:
            await self._submit(open_)

    async def _send_alone(self, shipment: Shipment) -> None:
        """Each record in a batch of its own, after what the partition has open (order)."""
        where = (shipment.topic, shipment.partition)
        pending = self._open.pop(where, None)
        if pending is not None:
            await self._submit(pending)
        for item in shipment.items:
            if self.retired:
                return
            one = dataclasses.replace(shipment, items=[item])
            batch = self._sink.create_batch()
            await self._submit(_Open(batch if _append(batch, item) else None, [one]))

    async def cancel(self) -> None:
        """Drop pending hand-overs (shutdown): their messages are unacked and come back."""
        self.retire()
        await cancel_and_wait(list(self._tasks), CANCEL_TIMEOUT_S)

    async def _submit(self, open_: _Open) -> None:
        if self._retired:
            return
        first = open_.shipments[0]
        where = (first.topic, first.partition)
        self._in_flight[where] = self._in_flight.get(where, 0) + 1  # before any await: order
        try:
            if open_.batch is None:
                future = await self._sink.send(first.items[0][1], first.partition)
            else:
                future = await self._sink.send_batch(open_.batch, first.topic, first.partition)
        except Exception as exc:  # KafkaError, or a record aiokafka refuses before sending
            self._landed(where)
            self._on_failed(self.generation, open_.shipments, exc)
            return
        future.add_done_callback(functools.partial(self._done, where, open_))

    def _landed(self, where: Partition) -> None:
        """A batch of ``where`` is confirmed or failed: the open one may go now."""
        self._in_flight[where] -= 1
        if not self._in_flight[where] and where in self._open and not self._retired:
            task = asyncio.get_running_loop().create_task(self._send_open(where))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send_open(self, where: Partition) -> None:
        if not self._in_flight.get(where) and where in self._open:
            await self._submit(self._open.pop(where))

    def _done(self, where: Partition, open_: _Open, future: "asyncio.Future[Any]") -> None:
        self._landed(where)
        if future.cancelled():
            self._on_failed(self.generation, open_.shipments, asyncio.CancelledError())
            return
        exc = future.exception()
        if exc is not None:
            self._on_failed(self.generation, open_.shipments, exc)
            return
        for shipment in open_.shipments:
            self._on_sent(shipment)


def _append(batch: Any, item: Item) -> Any:
    record = item[1]
    return batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers)
