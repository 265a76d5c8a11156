"""RabbitMQ side: kombu, in a thread of its own because kombu (py-amqp) is blocking.

The thread owns the connection: it declares our queue, fetches deliveries (at most ``prefetch``
unacked, which is the bridge's backpressure), hands them to the asyncio side in batches and
sends the acks the asyncio side asks for. Acks are multiple-acks; each connection has an
*epoch*, and an ack meant for an older connection is dropped (those messages come back).

Bodies can be large, so the thread also counts the bytes it holds (delivered, not yet acked):
above ``max_in_flight_bytes`` it cancels its consumers (basic.cancel: RabbitMQ stops sending,
keeps what is unacked with the channel), and at half of it it consumes again with new
consumer tags. Deliveries RabbitMQ had already sent still arrive and are handled. Each new
consumer's prefetch window is what the free bytes hold at the body size seen lately (RabbitMQ
fills a window at once from a backlog), widened again when bodies turn out smaller. Those
decisions are ``FlowControl``'s (``flow.py``); this module does the AMQP side of them.
"""

import contextlib
import queue
import select
import socket
import threading
import time
from collections.abc import Callable

import amqp
import amqp.exceptions
import structlog
from amqp.channel import Channel
from kombu.connection import Connection
from kombu.entity import Queue
from kombu.exceptions import OperationalError

from precache.amqp_connection import kombu_options
from precache.amqp_connection import refusal as amqp_refusal
from precache.bridge.amqp_transport import ChunkedReads, KombuTransport
from precache.bridge.backoff import Backoff
from precache.bridge.exceptions import AmqpSetupError
from precache.bridge.flow import FlowControl, Step
from precache.bridge.metrics import BridgeMetrics
from precache.bridge.records import Delivery
from precache.bridge.settings import BridgeSettings
from precache.bridge.status import BridgeStatus, Role
from precache.bridge.topology import SINGLE_ACTIVE_CONSUMER, declared_queues
from precache.logs import RateLimitedLog

log = structlog.get_logger(__name__)

DeliverFn = Callable[[int, list[Delivery]], object]
FatalFn = Callable[[BaseException], object]

_POLL_S = 0.02
# deliveries handed to asyncio at once: small enough that Kafka's confirms (and so the acks
# that reopen the prefetch window) start while RabbitMQ is still sending; 500 measured slower
_BATCH_MAX = 200
# RabbitMQ said no (bad credentials, a vhost that does not exist or is not ours, a queue
# declared with other arguments): retrying cannot help, the bridge exits with one line
_FATAL = (
    amqp.exceptions.IrrecoverableChannelError,
    amqp.exceptions.AccessRefused,
    amqp.exceptions.NotAllowed,
    amqp.exceptions.InvalidPath,
)


class AmqpConsumer:
    """Fetches from RabbitMQ and acks on request; reconnects with backoff until stopped."""

    def __init__(
        self,
        settings: BridgeSettings,
        deliver: DeliverFn,
        on_fatal: FatalFn,
        metrics: BridgeMetrics,
        status: BridgeStatus,
    ) -> None:
        self._settings = settings
        self._status = status
        self._deliver = deliver
        self._on_fatal = on_fatal
        self._metrics = metrics
        self._acks: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._pause = threading.Event()
        self.paused = threading.Event()
        # connect (a bad URL, vhost or credentials is reported at once) but fetch only once
        # Kafka is ready: until then RabbitMQ keeps the messages ready, not held by the bridge
        self._may_fetch = threading.Event()
        # set once RabbitMQ took our declarations: only then does the bridge touch Kafka (no
        # topics created for a bridge that RabbitMQ then refuses, e.g. a bad vhost)
        self.declared = threading.Event()
        self._batch: list[Delivery] = []
        self._epoch = 0
        # per connection: bytes held, prefetch window, throttled (flow), our consumers
        self._flow = self._new_flow(1)
        self._tags: list[str] = []  # consuming now
        self._retired: list[str] = []  # cancelled by us; late deliveries are still ours
        # what the fast path takes: deliveries on our channel to these consumer tags
        self._ours: tuple[int, frozenset[str]] = (0, frozenset())
        metrics.in_flight_bytes.set_function(lambda: self._flow.held.total)  # at scrape time
        self._delay = 0.0
        self._log = RateLimitedLog(log)
        self._thread = threading.Thread(target=self._run, name="amqp-consumer", daemon=True)
        # the thread waits on the AMQP socket and on this pair, so a queued ack (or a stop) is
        # sent at once, not after a poll timeout: with a full prefetch window, RabbitMQ sends
        # nothing more until it gets the ack, and every ms of delay idles the whole bridge
        self._wake_recv, self._wake_send = socket.socketpair()
        self._wake_recv.setblocking(False)
        self._wake_send.setblocking(False)

    def start(self) -> None:
        self._thread.start()

    def _new_flow(self, consumers: int) -> FlowControl:
        settings = self._settings
        return FlowControl(
            settings.max_in_flight_bytes,
            settings.prefetch,
            settings.max_body_bytes,
            consumers,
            # a cancel would hand the queue to a standby bridge: one consumer per connection
            fixed=settings.single_active_consumer,
        )

    def ack(self, epoch: int, tag: int) -> None:
        """Thread-safe: ack every delivery of connection ``epoch`` up to ``tag``."""
        self._acks.put((epoch, tag))
        self._wake()

    def allow_fetch(self) -> None:
        """Thread-safe: start fetching (Kafka is ready)."""
        self._may_fetch.set()
        self._wake()

    def pause(self) -> None:
        """Stop fetching (basic.cancel); acks still go out. ``paused`` is set once done."""
        self._pause.set()
        self._wake()

    def stop(self, timeout: float) -> None:
        """Send the acks queued so far, close the connection (unacked messages requeue)."""
        self._stop.set()
        self._wake()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._wake_recv.close()
            self._wake_send.close()

    def _wake(self) -> None:
        # full: a wake-up is already pending; closed: stopping
        with contextlib.suppress(OSError):
            self._wake_send.send(b"\0")

    def _wait(self, sock: socket.socket | None) -> bool:
        """Sleep until the AMQP socket is readable, an ack or stop is queued, or ``_POLL_S``.

        True if the AMQP socket has data.
        """
        if sock is None:
            return True
        readable, _, _ = select.select([sock, self._wake_recv], [], [], _POLL_S)
        if self._wake_recv in readable:
            with contextlib.suppress(BlockingIOError):
                while self._wake_recv.recv(4096):
                    pass
        return sock in readable

    def _run(self) -> None:
        try:
            self._reconnecting()
        finally:
            self._status.set_role(Role.DISCONNECTED)
            self.paused.set()

    def _reconnecting(self) -> None:
        """Connect, consume, reconnect with backoff; fatal errors end the thread (one line).

        Down (refused, timeout, connection lost) is retried; a name that does not resolve is
        retried only once the bridge has been connected (at start-up it is a bad URL).
        """
        backoff = Backoff(self._settings.retry_backoff_max_s)
        where = self._settings.amqp_url_masked
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._session()
            except AmqpSetupError as exc:  # our own words already
                self._on_fatal(exc)
                return
            except _FATAL as exc:
                self._on_fatal(AmqpSetupError(f"RabbitMQ {where} refused the bridge: {exc}"))
                return
            except socket.gaierror as exc:
                if not self._epoch:
                    self._on_fatal(AmqpSetupError(f"RabbitMQ {where}: host not found: {exc}"))
                    return
                self._lost(exc, backoff, began)
            except (OSError, amqp.exceptions.AMQPError, OperationalError) as exc:
                if not self._epoch and (reason := amqp_refusal(self._settings, exc)):
                    self._on_fatal(AmqpSetupError(reason))  # TLS settings: waiting cannot help
                    return
                self._lost(exc, backoff, began)
            except ValueError as exc:  # kombu/py-amqp on a URL they cannot use
                self._on_fatal(AmqpSetupError(f"RabbitMQ URL {where}: {exc}"))
                return
            except Exception as exc:
                self._on_fatal(AmqpSetupError(f"RabbitMQ {where}: {exc!r}"))
                return
            else:
                continue
            self._stop.wait(self._delay)

    def _lost(self, exc: BaseException, backoff: Backoff, began: float) -> None:
        self._status.set_role(Role.DISCONNECTED, error=str(exc))
        if time.monotonic() - began > 30:
            backoff.reset()  # it ran a while: a fresh failure, not a retry storm
        self._delay = backoff.next()
        self._log.warning("amqp connection lost", error=str(exc), retry_in_s=self._delay)

    def _session(self) -> None:
        with Connection(
            **kombu_options(self._settings),
            heartbeat=self._settings.amqp_heartbeat_s,
            connect_timeout=5,
            transport=KombuTransport,
        ) as conn:
            conn.connect()
            channel = conn.channel()
            channel.auto_decode = False  # keep bodies as the bytes RabbitMQ holds
            queues = declared_queues(self._settings)
            for q in queues:
                channel = self._declare(conn, channel, q)
            self._epoch += 1
            self.declared.set()
            self._metrics.reconnects.inc()
            self._batch = []
            # RabbitMQ requeues what the old connection had not acked: we hold nothing
            self._flow = self._new_flow(len(queues))
            self._tags, self._retired = [], []
            self._ours = (channel.channel_id, frozenset())
            names = [q.name for q in queues]
            self._status.set_role(Role.CONNECTED, epoch=self._epoch)
            if not self._pause.is_set() and self._may_fetch.is_set():
                self._fetch(channel, names)
            # else the drain loop fetches once allowed
            log.info(
                "amqp consuming",
                url=self._settings.amqp_url_masked,
                queues=names,
                prefetch=self._settings.prefetch,
                window=self._flow.window,
                max_in_flight_bytes=self._flow.held.limit,
                epoch=self._epoch,
            )
            self._drain(conn, channel, names, self._epoch)

    def _declare(self, conn: Connection, channel: Channel, queue: Queue) -> Channel:
        """Declare ``queue`` (with its exchange and binding); the channel to go on with.

        Nova's own queue is oslo.messaging's: if it exists, it is used as oslo declared it
        (classic, or quorum with ``rabbit_quorum_queue = True``: a declaration with other
        arguments would be refused), checked with a passive declare. Only if it does not
        exist yet is it declared, the way oslo's defaults would.
        """
        if self._settings.use_nova_queue:
            try:
                channel.queue_declare(queue.name, passive=True)
                return channel
            except amqp.exceptions.NotFound:
                channel = conn.channel()  # the 404 closed the channel
                channel.auto_decode = False
        try:
            queue.bind(channel).declare()
        except amqp.exceptions.PreconditionFailed as exc:
            if SINGLE_ACTIVE_CONSUMER in str(exc):
                raise AmqpSetupError(self._sac_mismatch(queue.name)) from exc
            raise
        return channel

    def _sac_mismatch(self, name: str) -> str:
        """RabbitMQ refused our declaration for its single-active-consumer argument."""
        if self._settings.single_active_consumer:
            return (
                f"queue {name!r} exists without {SINGLE_ACTIVE_CONSUMER} and RabbitMQ cannot add "
                f"it to an existing queue: stop its bridge(s), run `precache bridge-queue "
                f"migrate` with the same settings (it moves the queue's messages), then start them "
                f"with --single-active-consumer"
            )
        return (
            f"queue {name!r} was declared with {SINGLE_ACTIVE_CONSUMER} (standby bridges): "
            f"run every bridge of this queue with --single-active-consumer"
        )

    def _consume(self, channel: Channel, queue: str) -> str:
        """basic.consume straight on py-amqp's channel: no kombu Message per delivery."""
        return str(channel.basic_consume(queue, callback=self._on_message, no_ack=False))

    def _on_message(self, message: amqp.Message) -> None:
        info = message.delivery_info
        body = message.body
        if isinstance(body, str):  # only if a channel decoded it despite auto_decode=False
            body = body.encode()
        tag = info["delivery_tag"]
        if self._status.role is not Role.ACTIVE:
            self._status.delivered()
        self._flow.delivered(tag, len(body))
        self._batch.append(Delivery(tag, body, info["routing_key"]))

    def _drain(self, conn: Connection, channel: Channel, queues: list[str], epoch: int) -> None:
        last_beat = time.monotonic()
        transport = conn.connection.transport
        chunked = isinstance(transport, ChunkedReads)  # TCP and TLS (see amqp_transport)
        buffered: Callable[[], bool] = transport.frame_buffered if chunked else lambda: False
        sock = transport.sock if chunked else None
        flow = self._flow
        while True:
            ours = self._ours
            self._send_acks(channel, epoch)
            if self._stop.is_set():
                return
            if self._pause.is_set() and not self.paused.is_set():
                self._cancel(channel, epoch)
            try:
                if buffered() or self._wait(sock):
                    conn.drain_events(timeout=_POLL_S)
                # cut the batch at the delivery that crosses the bound, so the cancel goes out
                # at once; once cancelled, whatever still arrives is taken as usual
                while self._batch and len(self._batch) < _BATCH_MAX and flow.taking:
                    if chunked and self._take_delivery(conn, transport, ours):
                        continue
                    if buffered():
                        conn.connection.blocking_read(None)  # no socket call at all
                    else:
                        conn.drain_events(timeout=0)
            except TimeoutError:
                pass
            self._flush(epoch)
            step = flow.step(paused=self._pause.is_set(), may_fetch=self._may_fetch.is_set())
            if step is Step.THROTTLE:
                self._throttle(channel)
            elif step is Step.WIDEN:
                self._widen(channel, queues)
            elif step is Step.RESUME:
                self._fetch(channel, queues)
                log.info(
                    "amqp fetching again",
                    in_flight_bytes=flow.held.total,
                    deliveries=len(flow.held),
                    window=flow.window,
                )
            if time.monotonic() - last_beat > 1:
                conn.heartbeat_check()
                last_beat = time.monotonic()

    def _fetch(self, channel: Channel, queues: list[str]) -> None:
        """Consume every queue, each consumer with the window the flow control gives."""
        window = self._flow.open()
        channel.basic_qos(0, window, False)  # for consumers created from now on
        self._tags = [self._consume(channel, name) for name in queues]
        self._metrics.window.set(window)
        self._ours = (channel.channel_id, frozenset(self._tags + self._retired))
        if self._status.role is not Role.ACTIVE:
            # RabbitMQ tells a waiting consumer nothing: standby until something is delivered
            sac = self._settings.single_active_consumer
            self._status.set_role(Role.STANDBY if sac else Role.ACTIVE)

    def _widen(self, channel: Channel, queues: list[str]) -> None:
        """Consume again with a wider window (a consumer's prefetch cannot change)."""
        size = self._flow.held.largest
        self._retire(channel, resume=False)
        self._fetch(channel, queues)
        log.debug("amqp window widened", window=self._flow.window, body_bytes=size)

    def _throttle(self, channel: Channel) -> None:
        """Over ``max_in_flight_bytes``: stop RabbitMQ sending more until acks free bytes."""
        self._retire(channel, resume=True)
        self._metrics.throttles.inc()
        held = self._flow.held
        log.info(
            "amqp fetching paused: max_in_flight_bytes reached",
            in_flight_bytes=held.total,
            deliveries=len(held),
            max_in_flight_bytes=held.limit,
        )

    def _retire(self, channel: Channel, *, resume: bool) -> None:
        """basic.cancel our consumers without waiting for cancel-ok.

        What RabbitMQ sent before it got the cancel still arrives and is handled: py-amqp keeps
        a consumer's callback until cancel-ok, which nowait never brings. The callbacks of the
        consumers retired the time before are dropped now: newer consumers got deliveries since,
        so theirs all came (one arriving anyway would be rejected back to the queue by py-amqp).
        """
        for tag in self._retired:
            channel.callbacks.pop(tag, None)
        for tag in self._tags:
            channel.basic_cancel(tag, nowait=True)
        self._retired, self._tags = self._tags, []
        self._flow.close(resume=resume)
        self._metrics.window.set(0)
        self._ours = (channel.channel_id, frozenset(self._retired))

    def _take_delivery(
        self,
        conn: Connection,
        transport: ChunkedReads,
        ours: tuple[int, frozenset[str]],
    ) -> bool:
        """One whole delivery for one of our consumers, cut from the read buffer if there."""
        raw = transport.next_delivery(*ours)
        if raw is None:
            return False
        conn.connection.bytes_recv += 1  # what py-amqp's heartbeat check looks at
        tag, body = raw.delivery_tag, raw.body
        if self._status.role is not Role.ACTIVE:
            self._status.delivered()
        self._flow.delivered(tag, len(body))
        self._batch.append(Delivery(tag, body, raw.routing_key))
        return True

    def _cancel(self, channel: Channel, epoch: int) -> None:
        """Shutdown: stop fetching for good (consumers cancelled for the bound stay so)."""
        tags, self._tags = self._tags, []
        self._flow.close(resume=False)
        self._metrics.window.set(0)
        for tag in tags:
            channel.basic_cancel(tag)
        self._status.set_role(Role.CONNECTED, stopping=True)
        self._flush(epoch)
        self.paused.set()

    def _flush(self, epoch: int) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._deliver(epoch, batch)

    def _send_acks(self, channel: Channel, epoch: int) -> None:
        highest = 0
        while True:
            try:
                ack_epoch, tag = self._acks.get_nowait()
            except queue.Empty:
                break
            if ack_epoch == epoch and tag > highest:
                highest = tag
        if highest:
            channel.basic_ack(highest, multiple=True)
            self._flow.acked(highest)
