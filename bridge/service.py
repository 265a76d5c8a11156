"""Wires consumer -> records -> producer, and acks each delivery only after Kafka has it.

Flow: the consumer thread hands batches of deliveries to ``_process`` (asyncio); each becomes a
record (or a dead letter), records are grouped by partition into Kafka batches, queued without
waiting; when Kafka confirms a batch its tags are marked done and the highest tag with nothing
unconfirmed before it is multiple-acked. A failed send is retried (``sender``) and never acked,
so at most ``prefetch`` messages (and about ``max_in_flight_bytes`` of bodies: see
``consumer``) wait while Kafka is away, and RabbitMQ keeps the rest.
"""

import asyncio
import contextlib
import signal
import time
from typing import Any

import structlog
from aiokafka.errors import KafkaError

from bridge.acks import AckWindow
from bridge.consumer import AmqpConsumer
from bridge.metrics import BridgeMetrics
from bridge.producer import KafkaSink
from bridge.records import Delivery, Item, RecordBuilder, received_at
from bridge.sender import BatchSender, Shipment
from bridge.settings import BridgeSettings

log = structlog.get_logger(__name__)


class Bridge:
    """One region's RabbitMQ into Kafka; ``run`` returns after ``stop`` is set and all is acked."""

    def __init__(self, settings: BridgeSettings, metrics: BridgeMetrics | None = None) -> None:
        self._settings = settings
        self.metrics = metrics or BridgeMetrics()
        self._builder = RecordBuilder(settings)
        self._sink = KafkaSink(settings)
        self._inbox: asyncio.Queue[tuple[int, list[Delivery]]] = asyncio.Queue()
        self._windows: dict[int, AckWindow] = {}
        self._epoch = 0
        self._busy = False
        self._sender = BatchSender(
            settings, self._sink, self.metrics, self._on_sent, lambda e: e == self._epoch
        )
        self._consumer: AmqpConsumer | None = None

    async def run(self, stop: asyncio.Event) -> None:
        if not await _until_stopped(self._sink.start(), stop):
            await self._sink.stop()
            return
        loop = asyncio.get_running_loop()
        fatal: asyncio.Future[None] = loop.create_future()
        self._consumer = AmqpConsumer(
            self._settings,
            deliver=lambda epoch, batch: loop.call_soon_threadsafe(
                self._inbox.put_nowait, (epoch, batch)
            ),
            on_fatal=lambda exc: loop.call_soon_threadsafe(_fail, fatal, exc),
            metrics=self.metrics,
        )
        self._consumer.start()
        worker = asyncio.create_task(self._process())
        stopping = asyncio.create_task(stop.wait())
        waited: list[asyncio.Future[Any]] = [worker, stopping, fatal]
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        await self._shutdown(self._consumer, worker, stopping)
        if fatal.done():
            fatal.result()
        if worker.done() and not worker.cancelled():
            worker.result()

    async def _process(self) -> None:
        while True:
            epoch, batch = await self._inbox.get()
            self._busy = True
            if epoch != self._epoch:
                self._windows = {epoch: AckWindow()}
                self._epoch = epoch
            window = self._windows[epoch]
            for delivery in batch:
                window.add(delivery.tag)
            self.metrics.received.inc(len(batch))
            for (topic, partition), items in (await self._group(batch)).items():
                await self._sender.send(Shipment(epoch, topic, partition, items))
            self.metrics.in_flight.set(len(window))
            self._busy = self._inbox.qsize() > 0

    async def _group(self, batch: list[Delivery]) -> dict[tuple[str, int], list[Item]]:
        """Records by (topic, partition): each group goes to Kafka as few batches."""
        now = received_at()
        groups: dict[tuple[str, int], list[Item]] = {}
        for delivery in batch:
            record = self._builder.build(delivery, now)
            if not self._sink.knows(record.topic):
                await self._sink.prepare(record.topic)
            partition = self._sink.partition(record.topic, record.key)
            groups.setdefault((record.topic, partition), []).append((delivery, record))
        return groups

    def _on_sent(self, shipment: Shipment) -> None:
        """Kafka has these records: count them, ack up to the oldest still unconfirmed."""
        self._count(shipment)
        window = self._windows.get(shipment.epoch)
        if window is None:
            return
        highest = None
        for delivery, _ in shipment.items:
            highest = window.done(delivery.tag) or highest
        if highest is not None and self._consumer is not None:
            self._consumer.ack(shipment.epoch, highest)

    def _count(self, shipment: Shipment) -> None:
        if shipment.topic != self._settings.dlq_topic:
            self.metrics.forwarded.labels(topic=shipment.topic).inc(len(shipment.items))
            return
        for delivery, record in shipment.items:
            self.metrics.dead_letters.labels(reason=record.reason).inc()
            log.warning(
                "dead letter",
                reason=record.reason,
                routing_key=delivery.routing_key,
                error=dict(record.headers)["error"].decode(),
            )

    def _settled(self) -> bool:
        window = self._windows.get(self._epoch)
        return not self._busy and self._inbox.empty() and (window is None or len(window) == 0)

    async def _shutdown(
        self, consumer: AmqpConsumer, worker: "asyncio.Task[None]", stopping: "asyncio.Task[Any]"
    ) -> None:
        """Stop fetching, let Kafka confirm what is in flight, ack it, close both sides."""
        deadline = time.monotonic() + self._settings.shutdown_timeout_s
        consumer.pause()
        await asyncio.to_thread(consumer.paused.wait, self._settings.shutdown_timeout_s / 2)
        with contextlib.suppress(KafkaError):
            await asyncio.wait_for(self._sink.flush(), max(0.1, deadline - time.monotonic()))
        while not self._settled() and time.monotonic() < deadline and not worker.done():  # noqa: ASYNC110 - settles via Kafka callbacks, polled
            await asyncio.sleep(0.01)
        await asyncio.to_thread(consumer.stop, max(1.0, deadline - time.monotonic()))
        for task in (worker, stopping):
            task.cancel()
        await asyncio.gather(worker, stopping, return_exceptions=True)
        await self._sender.cancel()
        await self._sink.stop()
        log.info(
            "bridge stopped",
            settled=self._settled(),
            received=self.metrics.registry.get_sample_value("precache_bridge_received_total"),
            amqp_connections=self._epoch,
            dead_letters=self.metrics.dead_letter_counts(),
        )


def _fail(fatal: "asyncio.Future[None]", exc: BaseException) -> None:
    if not fatal.done():
        fatal.set_exception(exc)


async def _until_stopped(work: Any, stop: asyncio.Event) -> bool:
    """Run ``work`` unless ``stop`` is set first; True if it finished."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopping):
        pending.cancel()
    await asyncio.gather(task, stopping, return_exceptions=True)
    if task.cancelled():
        return False
    error = task.exception()
    if error is not None:
        raise error
    return True


async def serve(settings: BridgeSettings) -> None:
    """The process entry point: run until SIGTERM/SIGINT, then flush, ack and return."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bridge = Bridge(settings)
    bridge.metrics.serve(settings.metrics_port)
    log.info(
        "bridge starting",
        region=settings.region,
        source=settings.source,
        amqp=settings.amqp_url_masked,
        kafka=settings.kafka_bootstrap,
        topic=settings.raw_topic,
    )
    await bridge.run(stop)
