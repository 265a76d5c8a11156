"""Wires consumer -> records -> producer, and acks each delivery only after Kafka has it.

Flow: the consumer thread hands batches of deliveries to ``_process`` (asyncio); each becomes a
record (or a dead letter), records are grouped by partition into Kafka batches, queued without
waiting; when Kafka confirms a batch its tags are marked done and the highest tag with nothing
unconfirmed before it is multiple-acked. Nothing is acked that Kafka did not take, so at most
``prefetch`` messages (and about ``max_in_flight_bytes`` of bodies: see ``consumer``) wait
while Kafka is away, and RabbitMQ keeps the rest.

A failed send (``kafka_errors``): a record Kafka refused for good is replaced by its dead
letter (``kafka_refused``; only a batch of one tells which record it was, so the records of a
refused batch are sent again one per batch first); an authorization error is fatal; and in
every case but fatal the producer is *healed*: its idempotent sequence is broken (aiokafka
cannot repair it), so it is replaced by a new one, which sends everything not yet confirmed
again, in delivery order, before anything new (``_healing``). Heals back off exponentially
while they bring no confirmation; their logs are rate-limited.

Why not drop the AMQP connection instead and let RabbitMQ redeliver: a record Kafka refuses
would come back and be refused again (the bridge would have to recognise its body), and every
delivery not yet acked would be sent twice. The unconfirmed records are all here, by tag.
"""

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterable, Iterator
from typing import Any

import structlog
from aiokafka.errors import KafkaError

from precache.bridge.acks import AckWindow
from precache.bridge.backoff import Backoff
from precache.bridge.consumer import AmqpConsumer
from precache.bridge.health import HealthApp
from precache.bridge.health import serve as serve_http
from precache.bridge.kafka_errors import Kind, classify, describe
from precache.bridge.metrics import BridgeMetrics
from precache.bridge.producer import KafkaSink
from precache.bridge.records import SHRUNK_BYTES, Delivery, Item, RecordBuilder, received_at
from precache.bridge.sender import BatchSender, Shipment
from precache.bridge.settings import BridgeSettings
from precache.bridge.status import BridgeStatus, Role
from precache.bridge.unconfirmed import Entry, Unconfirmed
from precache.errors import BrokerRefused, TopicMismatch
from precache.heap import freeze_startup_heap
from precache.logs import RateLimitedLog
from precache.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

# how often the bridge asks Kafka for metadata, so /readyz sees an outage with no traffic
KAFKA_CHECK_S = 2.0


class Bridge:
    """One region's RabbitMQ into Kafka; ``run`` returns after ``stop`` is set and all is acked."""

    def __init__(self, settings: BridgeSettings, metrics: BridgeMetrics | None = None) -> None:
        self._settings = settings
        self.metrics = metrics or BridgeMetrics()
        self.status = BridgeStatus(self.metrics.role)
        self._builder = RecordBuilder(settings)
        self._sink = KafkaSink(settings)
        self._inbox: asyncio.Queue[tuple[int, list[Delivery]]] = asyncio.Queue()
        self._epoch = 0
        self._window = AckWindow()
        # read at scrape time: set only when a batch arrived, it stayed up after the acks
        self.metrics.in_flight.set_function(lambda: len(self._window))
        self._unconfirmed = Unconfirmed()
        self._busy = False
        self._healthy = asyncio.Event()  # a producer is up and nothing waits to be sent again
        self._generation = 0
        self._sender = self._new_sender()
        self._healer: asyncio.Task[None] | None = None
        self._last_error: BaseException | None = None
        self._confirmed_since_heal = True
        self._heal_backoff = Backoff(settings.retry_backoff_max_s)
        self._log = RateLimitedLog(log)
        self._consumer: AmqpConsumer | None = None
        self._fatal: asyncio.Future[None] | None = None
        self._started = False

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        fatal: asyncio.Future[None] = loop.create_future()
        self._fatal = fatal
        self._consumer = AmqpConsumer(
            self._settings,
            deliver=lambda epoch, batch: loop.call_soon_threadsafe(
                self._inbox.put_nowait, (epoch, batch)
            ),
            on_fatal=lambda exc: loop.call_soon_threadsafe(_fail, fatal, exc),
            metrics=self.metrics,
            status=self.status,
        )
        self._consumer.start()  # connects at once; Kafka is set up once RabbitMQ took us
        starting = asyncio.create_task(self._start_kafka(), name="start-kafka")
        worker = asyncio.create_task(self._process(), name="process")
        stopping = asyncio.create_task(stop.wait(), name="stop")
        checking = asyncio.create_task(self._check_kafka(), name="check-kafka")
        waited: list[asyncio.Future[Any]] = [worker, stopping, fatal]
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        await self._shutdown(self._consumer, [worker, stopping, starting, checking])
        if fatal.done():
            fatal.result()
        if worker.done() and not worker.cancelled():
            worker.result()

    async def _start_kafka(self) -> None:
        consumer = self._consumer
        while consumer is not None and not consumer.declared.is_set():  # noqa: ASYNC110 - set by the AMQP thread
            await asyncio.sleep(0.05)  # RabbitMQ first: a refusal there creates no topic
        try:
            await self._sink.start()
        except Exception as exc:  # a wrong topic (TopicMismatch): the bridge cannot start
            self._fail(exc)
            return
        freeze_startup_heap()  # started: what start-up made leaves the collector's view
        self._started = True
        self.status.kafka_answered(None)
        self._healthy.set()
        if self._consumer is not None:
            self._consumer.allow_fetch()

    async def _check_kafka(self) -> None:
        """Ask Kafka for metadata every ``KAFKA_CHECK_S``: an outage shows with no traffic."""
        while True:
            await asyncio.sleep(KAFKA_CHECK_S)
            if not self._healthy.is_set():
                continue  # starting or healing: readiness says so already
            try:
                await asyncio.wait_for(self._sink.check(), KAFKA_CHECK_S * 2)
            except Exception as exc:  # whatever it is, Kafka did not answer
                self.status.kafka_answered(describe(exc) or type(exc).__name__)
            else:
                self.status.kafka_answered(None)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """``/readyz``: connected to both brokers (active or standby), else why not."""
        role = self.status.role
        body: dict[str, Any] = {"role": role.value}
        if role is Role.DISCONNECTED:
            reason = "not connected to RabbitMQ"
        elif not self._healthy.is_set():
            reason = (
                "Kafka: sending again what it did not confirm"
                if self._started
                else "Kafka: producer not started yet"
            )
        elif self.status.kafka_error is not None:
            reason = f"Kafka does not answer: {self.status.kafka_error}"
        elif role is Role.CONNECTED:
            reason = "connected to RabbitMQ, not consuming"
        else:
            reason = None
        body["status"] = "ready" if reason is None else "not ready"
        if reason is not None:
            body["reason"] = reason
        return reason is None, body

    async def _process(self) -> None:
        while True:
            epoch, batch = await self._inbox.get()
            self._busy = True
            await self._healthy.wait()
            if epoch != self._epoch:  # a new AMQP connection: RabbitMQ requeued the rest
                self._epoch, self._window, self._unconfirmed = epoch, AckWindow(), Unconfirmed()
            window = self._window
            for delivery in batch:
                window.add(delivery.tag)
            self.metrics.received.inc(len(batch))
            groups = self._group(batch)
            for (_, partition), items in groups.items():
                for item in items:
                    self._unconfirmed.add(partition, item)
            sender = self._sender
            for (topic, partition), items in groups.items():
                if sender is not self._sender:
                    break  # healing: the new producer sends them with everything unconfirmed
                await sender.send(Shipment(epoch, topic, partition, items))
            self._busy = self._inbox.qsize() > 0

    def _group(self, batch: list[Delivery]) -> dict[tuple[str, int], list[Item]]:
        """Records by (topic, partition): each group goes to Kafka as few batches."""
        now = received_at()
        groups: dict[tuple[str, int], list[Item]] = {}
        for delivery in batch:
            try:
                record = self._builder.build(delivery, now)
                partition = self._sink.partition(record.topic, record.key)
            except Exception as exc:
                record = self._builder.last_resort(delivery, exc, now)
                partition = self._sink.partition(record.topic, None)
                self._log.warning("bridge failed on a delivery: dead letter", error=repr(exc))
            groups.setdefault((record.topic, partition), []).append((delivery, record))
        return groups

    # Kafka's answers ---------------------------------------------------------------------

    def _on_sent(self, shipment: Shipment) -> None:
        """Kafka has these records: count them, ack up to the oldest still unconfirmed."""
        self._confirmed_since_heal = True
        if shipment.epoch != self._epoch:
            return  # an older connection's: RabbitMQ redelivered them
        highest = None
        first: list[Item] = []
        for item in shipment.items:
            tag = item[0].tag
            if self._unconfirmed.confirm(tag):
                first.append(item)
                highest = self._window.done(tag) or highest
        self._count(shipment.topic, first)
        if highest is not None and self._consumer is not None:
            self._consumer.ack(shipment.epoch, highest)

    def _on_failed(self, generation: int, shipments: list[Shipment], exc: BaseException) -> None:
        kind = classify(exc)
        if kind is Kind.FATAL:
            topics = sorted({s.topic for s in shipments})
            self._fail(BrokerRefused(f"Kafka refuses writes to {topics}: {describe(exc)}"))
            return
        if kind is Kind.REFUSED:
            self._refused([s for s in shipments if s.epoch == self._epoch], exc)
        if generation == self._generation:
            self._heal(exc)

    def _refused(self, shipments: list[Shipment], exc: BaseException) -> None:
        """Kafka will never take this batch: its one record becomes a dead letter; the
        records of a larger batch are sent one per batch, to learn which it was."""
        entries = [
            (entry, record)
            for shipment in shipments
            for delivery, record in shipment.items
            if (entry := self._unconfirmed.get(delivery.tag)) is not None
            and entry.record is record  # not handled already
        ]
        if len(entries) != 1:
            for entry, _ in entries:
                entry.alone = True
            return
        entry, record = entries[0]
        error = describe(exc)
        if record.topic != self._settings.dlq_topic:
            entry.record = self._builder.refused(entry.delivery, record, error)
            entry.partition = self._sink.partition(entry.record.topic, None)
            self._log.warning(
                "kafka refused a record for good: dead letter",
                topic=record.topic,
                value_bytes=len(record.value),
                error=error,
            )
        elif not entry.shrunk:
            entry.record, entry.shrunk = self._builder.shrunk(record, error), True
            self._log.warning("kafka refused a dead letter: sending it cut", error=error)
        else:
            self._fail(
                TopicMismatch(
                    f"Kafka refuses dead letters on {record.topic} even cut to {SHRUNK_BYTES} "
                    f"bytes ({error}): fix the topic (cleanup.policy=delete, max.message.bytes)"
                )
            )

    # healing -----------------------------------------------------------------------------

    def _heal(self, exc: BaseException) -> None:
        """Retire the producer's sender now; replace the producer and send again (a task)."""
        self._last_error = exc
        self._generation += 1
        self._sender.retire()
        self._healthy.clear()
        if self._healer is None or self._healer.done():
            self._healer = asyncio.get_running_loop().create_task(self._healing(), name="heal")

    async def _healing(self) -> None:
        while True:
            if self._confirmed_since_heal:
                self._heal_backoff.reset()
                delay = 0.0
            else:
                delay = self._heal_backoff.next()
            self._confirmed_since_heal = False
            self.metrics.producer_replacements.inc()
            self._log.warning(
                "kafka send failed: replacing the producer, sending the unconfirmed again",
                error=describe(self._last_error) if self._last_error else None,
                unconfirmed=len(self._unconfirmed),
                retry_in_s=delay,
            )
            await asyncio.sleep(delay)
            await self._sink.replace()
            self._sender = self._new_sender()
            sender = self._sender
            for shipment in list(_shipments(self._epoch, self._unconfirmed.in_order())):
                if sender.generation != self._generation:
                    break
                await sender.send(shipment)
            if sender.generation == self._generation:
                break  # else it failed meanwhile: replace it again
        self._healthy.set()

    def _new_sender(self) -> BatchSender:
        return BatchSender(self._sink, self._generation, self._on_sent, self._on_failed)

    def _fail(self, exc: BaseException) -> None:
        if self._fatal is not None:
            _fail(self._fatal, exc)

    # counting and stopping ---------------------------------------------------------------

    def _count(self, topic: str, items: list[Item]) -> None:
        if topic != self._settings.dlq_topic:
            self.metrics.forwarded.labels(topic=topic).inc(len(items))
            return
        for delivery, record in items:
            self.metrics.dead_letters.labels(reason=record.reason).inc()
            log.warning(
                "dead letter",
                reason=record.reason,
                routing_key=delivery.routing_key,
                error=dict(record.headers)["error"].decode(),
            )

    def _settled(self) -> bool:
        return not self._busy and self._inbox.empty() and len(self._window) == 0

    async def _shutdown(self, consumer: AmqpConsumer, tasks: list["asyncio.Task[Any]"]) -> None:
        """Stop fetching, let Kafka confirm what is in flight, ack it, close both sides."""
        deadline = time.monotonic() + self._settings.shutdown_timeout_s
        worker = tasks[0]
        consumer.pause()
        await asyncio.to_thread(consumer.paused.wait, self._settings.shutdown_timeout_s / 2)
        if self._healthy.is_set():
            with contextlib.suppress(KafkaError):
                await asyncio.wait_for(self._sink.flush(), max(0.1, deadline - time.monotonic()))
        fatal = self._fatal is not None and self._fatal.done()
        while not (fatal or self._settled() or worker.done() or time.monotonic() > deadline):  # noqa: ASYNC110 - settles via Kafka callbacks, polled
            await asyncio.sleep(0.01)
        await asyncio.to_thread(consumer.stop, max(1.0, deadline - time.monotonic()))
        if self._healer is not None:
            tasks.append(self._healer)
        stuck = await cancel_and_wait(tasks, max(1.0, deadline - time.monotonic()))
        if stuck:
            log.error("bridge tasks did not stop", tasks=sorted(t.get_name() for t in stuck))
        await self._sender.cancel()
        await self._sink.stop()
        log.info(
            "bridge stopped",
            settled=self._settled(),
            received=self.metrics.registry.get_sample_value("precache_bridge_received_total"),
            amqp_connections=self._epoch,
            dead_letters=self.metrics.dead_letter_counts(),
        )


def _shipments(epoch: int, entries: Iterable[Entry]) -> Iterator[Shipment]:
    """Entries (in delivery order) as shipments per partition, runs of ``alone`` apart."""
    runs: dict[tuple[str, int], list[tuple[bool, list[Item]]]] = {}
    for entry in entries:
        where = (entry.record.topic, entry.partition)
        partition_runs = runs.setdefault(where, [])
        if not partition_runs or partition_runs[-1][0] != entry.alone:
            partition_runs.append((entry.alone, []))
        partition_runs[-1][1].append((entry.delivery, entry.record))
    for (topic, partition), partition_runs in runs.items():
        for alone, items in partition_runs:
            yield Shipment(epoch, topic, partition, items, alone)


def _fail(fatal: "asyncio.Future[None]", exc: BaseException) -> None:
    if not fatal.done():
        fatal.set_exception(exc)


async def serve(settings: BridgeSettings) -> None:
    """The process entry point: run until SIGTERM/SIGINT, then flush, ack and return."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bridge = Bridge(settings)
    app = HealthApp(bridge.metrics.registry, loop, bridge.readiness)
    server = serve_http(settings.metrics_port, app)
    log.info(
        "bridge starting",
        region=settings.region,
        source=settings.source,
        amqp=settings.amqp_url_masked,
        kafka=settings.kafka_bootstrap,
        topic=settings.raw_topic,
        single_active_consumer=settings.single_active_consumer,
    )
    try:
        await bridge.run(stop)
    finally:
        if server is not None:
            await asyncio.to_thread(server.shutdown)
