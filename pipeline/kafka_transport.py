"""faust's aiokafka transport with two changes to the worker's fetch path, measured in bench/.

- **Fetch wait.** faust creates its consumer with ``fetch_max_wait_ms=1500``. aiokafka keeps one
  fetch request in flight per broker and leaves out partitions that still have records
  buffered, so while the agent works through a buffered fetch the next request asks only for
  idle partitions (ticks, say) and the broker holds it for the full wait: the agent then sits
  idle for up to 1.5 s every few thousand records (a no-op agent: 5k records/s). The wait is
  a worker setting (``fetch_max_wait_ms``).
- **Delivery.** For every record, faust's drain loop runs ``wait_first(callback(message),
  suspend_flow.wait())``: four tasks and an ``asyncio.wait`` to deliver one record into the
  stream buffer (a no-op agent: 14k records/s; 32k without it). While flow is not suspended
  the delivery is awaited directly here; when it is, faust's own path runs. A delivery that
  blocks on a full buffer while a rebalance starts is then finished rather than dropped: the
  revocation waits for the stream to process it (``stream_wait_empty``), on the partition it
  still owns.
- **Stream partitions wait for the end of a rebalance.** faust's recovery ends with
  ``resume_partitions(stream partitions)``, ``await perform_seek()`` (seek to the committed
  offsets), then ``flow_control.resume()``, which *clears every stream buffer*, then
  ``resume_flow()``. The consumer's flow has been active since the changelogs were read, so
  records fetched from the committed offsets during that ``await`` (0.6 s on a loaded machine)
  reach the agent's buffer and are thrown away by the clear, while the read position has
  moved past them: a whole fetch (~1 MB) of every partition taken over was never processed,
  and when it held the partition's last records nothing ever came to reveal the gap (the
  two-worker hand-over hang). Stream partitions resumed during a rebalance are therefore
  made fetchable only by the ``resume_flow()`` that follows the clear; partitions that a new
  assignment makes active are held the same way. Changelog partitions are never held
  (recovery reads them through the same fetch loop).
- **"Seek back to committed" also rewinds partitions without a commit.** When a fetch comes
  back while the flow is stopped (a rebalance), faust drops it and calls ``perform_seek`` to
  read it again from the committed offsets; aiokafka's ``seek_to_committed`` leaves a
  partition the group never committed (or committed at 0) where the dropped fetch left it,
  so those records were never read: a worker taking over a partition whose owner was killed
  before its first commit read nothing of it. Such a partition is sought to its beginning,
  which is where the group starts it (``auto_offset_reset="earliest"``).

- **Records the worker never uses are dropped before faust sees them.** Most of a region's
  ``nova.notifications`` is other traffic (``instance.update``, ...). faust turned each such
  record into a message, an event, a stream step and an ack before the agent threw it away
  (about 50 us of CPU, almost what a counted record costs). A raw record whose ``event_type``
  header says it is not a cache_images notification (:func:`~pipeline.notifications.skippable`:
  the same judgement the agent made) is now dropped where faust converts records into
  messages, and its offset is acked directly in faust's own bookkeeping (``_acked``,
  ``_acked_index``, ``_n_acked``, as ``Consumer.ack`` does), so commits move past it and a
  restart does not read it again. A skipped offset must never be committed before a record
  of the same partition delivered earlier: faust commits the first run of consecutive acked
  offsets, and its check against the committed offset is off by one (``_new_offset``), so
  while delivered records of the partition are not acked yet (``_inflight``), the skipped
  offsets wait (``_deferred``) and are acked when the last of them is. What a rebalance
  throws away is forgotten with it (a new assignment seeks to the committed offsets and
  reads it all again). A record without the header, or with one that is not ASCII, goes to
  the agent, whose parser judges the value (dead letters for a broken cache_images record).

- **The producer is idempotent.** faust enables idempotence only with transactions
  (``Producer._settings_extra``); at least once, a batch of changelog writes that failed
  (a timeout, say) could be followed by a later one of the same partition that landed, and
  the changelog would have a hole: a restart would recover an operation's markers without the
  host list or the summary they depend on (wrong counts, shown by
  ``tests/unit/pipeline/test_pipeline_agent_faults.py``). Idempotent, Kafka appends one producer's
  batches to a partition only in order, so the changelog is always a prefix of what was
  written, and the worker exits at the first failure (``pipeline.agents``).

Selected with the broker URL scheme ``precache-kafka://`` (see :func:`broker_url`). What the
transport needs from the worker is declared, not pinned onto faust's objects: a
:class:`WorkerApp` carries one :class:`TransportOptions`, made in :func:`pipeline.app.build`,
whose :class:`SkipState` the gap guard and the web view share with the consumer.
"""

import contextlib
import inspect
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.errors import IllegalStateError
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, AppT, Message
from faust.types.tuples import ack_lock
from mode import ServiceT
from mode.services import WaitResults
from mode.utils.futures import notify

from precache.pipeline.notifications import skippable

SCHEME = "precache-kafka"
NO_SENSOR = "no sensor attached"  # the rebalance sensor state when none answered


@dataclass(frozen=True)
class TransportOptions:
    """What the worker's transport takes from the worker, and what it tells it back."""

    fetch_max_wait_ms: int  # the consumer's broker wait for an empty fetch (module doc)
    skips: "SkipState"  # the raw topic's dropped records: shared with the gap guard and /stats


class WorkerApp(faust.App):
    """faust's App with the worker's transport options as a declared field: faust builds the
    consumer from the app, so this is where the consumer finds them."""

    def __init__(self, id: str, *, transport_options: TransportOptions, **options: Any) -> None:
        super().__init__(id, **options)
        self.transport_options = transport_options

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        """faust's, without its Monitor sensor: faust calls every sensor several times per
        message and per table read and write (counters and timings for faust's own web pages
        and metrics, which the worker does not serve; its ``/stats`` and ``/metrics`` are its
        own). Measured in ``bench scale``: 3 % of the worker (bench/README.md, Run S5)."""
        dependencies = super().on_init_dependencies()
        self.sensors.remove(self.monitor)
        return dependencies

    def on_rebalance_start(self) -> None:
        """faust's, then a non-empty sensor state when no sensor answered: faust warns "Missing
        sensor state" at each rebalance's return and end when the state is empty, which without
        its Monitor (the sensor that always answered) it always is."""
        super().on_rebalance_start()
        if not self._rebalancing_sensor_state:
            self._rebalancing_sensor_state = {NO_SENSOR: None}


def options_of(app: AppT) -> TransportOptions:
    """The options of the app a consumer belongs to; ``precache-kafka://`` needs a WorkerApp."""
    if not isinstance(app, WorkerApp):
        raise TypeError(f"the {SCHEME}:// transport needs a WorkerApp, not {type(app).__name__}")
    return app.transport_options


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # read when aiokafka starts its fetcher; the fence checks aiokafka still stores it here
        consumer._fetch_max_wait_ms = options_of(self.app).fetch_max_wait_ms
        return consumer


_SKIPPED = object()  # what ``_to_message`` returns for a record dropped before faust sees it


class Consumer(faust_aiokafka.Consumer):
    _held: set[TP] | None = None  # stream partitions fetchable at the next resume_flow()

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    _skip_state: "SkipState | None" = None

    @property
    def _skips(self) -> "SkipState":
        """The app's SkipState (read per record: kept after the first look)."""
        if self._skip_state is None:
            self._skip_state = options_of(self.app).skips
        return self._skip_state

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:  # noqa: ASYNC109 - faust's signature
        """faust's ``getmany`` without the records ``_to_message`` dropped; every raw record
        handed on is in flight until it is acked (module doc)."""
        skips = self._skips
        read_offset = self._read_offset
        async for tp, message in super().getmany(timeout):
            if message is _SKIPPED:
                continue
            if tp.topic == skips.topic:
                r_offset = read_offset[tp]
                if r_offset is None or message.offset >= r_offset:  # else faust drops it
                    skips.deliver(tp, message)
            yield tp, message

    def _to_message(self, tp: Any, record: Any) -> Any:
        skips = self._skips
        if tp.topic == skips.topic and skippable(record.headers):
            offset = record.offset
            r_offset = self._read_offset[tp]
            if r_offset is None or offset >= r_offset:  # faust's drain loop's own check
                self._read_offset[tp] = offset  # no gap for the drain loop to fill in
                skips.skip(tp, offset)
                if skips.busy(tp):
                    skips.defer(tp, offset)
                else:
                    self._ack_offsets(tp, (offset,))
            return _SKIPPED
        return super()._to_message(tp, record)

    def ack(self, message: Message) -> bool:
        done = super().ack(message)
        deferred = self._skips.done(message)
        if deferred:
            self._ack_offsets(message.tp, deferred)
        return done

    def _ack_offsets(self, tp: TP, offsets: Iterable[int]) -> None:
        """Mark skipped offsets acked, as ``Consumer.ack`` marks a message's."""
        with ack_lock:
            committed = self._committed_offset[tp]
            acked_index = self._acked_index[tp]
            acked = self._acked[tp]
            for offset in offsets:
                if (committed is None or offset >= committed) and offset not in acked_index:
                    acked_index.add(offset)
                    acked.append(offset)
                    self._n_acked += 1
            notify(self._waiting_for_ack)

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:  # noqa: ASYNC109 - faust's signature
        """aiokafka reads ``active_partitions`` in the consumer thread while faust changes the
        same set (pause/resume), and an empty set means *every* partition to aiokafka: a fetch
        could return records of a partition faust no longer counts as active, which faust's
        ``getmany`` drops with the position already past them. Measured: a worker taking over
        raw partitions got their records while only changelogs were active, dropped them,
        and never read them again. aiokafka gets a snapshot of the set faust checked."""
        if active_partitions is not None:
            active_partitions = set(active_partitions)
        return await super()._getmany(active_partitions, timeout)

    def _hold(self, tps: Iterable[TP]) -> set[TP]:
        """Keep back the stream partitions of ``tps`` while a rebalance is in progress
        (module doc); returns the partitions that may be fetched now."""
        tps = set(tps)
        if not self.app.rebalancing:
            return tps
        held = {tp for tp in tps if not self._is_changelog_tp(tp)}
        if self._held is None:
            self._held = set()
        self._held |= held
        return tps - held

    def _set_active_tps(self, tps: Any) -> Any:
        self._held = None  # a new assignment: what was held belonged to the old one
        self._skips.reset()
        active = super()._set_active_tps(tps)
        active.intersection_update(self._hold(active))
        return active

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        tps = set(tps)
        now = self._hold(tps)
        self._paused_partitions.difference_update(tps - now)  # resumed, not yet fetchable
        super().resume_partitions(now)

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        tps = set(tps)
        if self._held:
            self._held -= tps
        super().pause_partitions(tps)

    def stop_flow(self) -> None:
        self._held = None  # a revocation: the partitions are resumed again after it
        self._skips.reset()
        super().stop_flow()

    async def seek_to_committed(self) -> Any:
        """faust's seek to the committed offsets, and to the beginning where there is none
        (module doc)."""
        committed = await super().seek_to_committed()
        fresh = [
            tp for tp, offset in committed.items() if not offset and not self._is_changelog_tp(tp)
        ]
        if fresh:
            # no longer assigned: a rebalance is under way and the next assignment seeks again
            with contextlib.suppress(IllegalStateError):
                await self._thread.seek_to_beginning(*fresh)
        return committed

    def resume_flow(self) -> None:
        """faust calls this right after ``flow_control.resume()`` cleared the buffers: the
        held stream partitions (already sought to their committed offsets) may fetch now."""
        held, self._held = self._held, None
        self._skips.reset()  # the cleared buffers' records are read again
        if held:
            self._get_active_partitions().update(held)
        super().resume_flow()

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109 - mode's signature
        """The drain loop's per-record call, without four tasks per record (see module doc)."""
        if timeout is None and len(coros) == 2 and self._flowing():
            deliver, suspended = coros
            if inspect.iscoroutine(deliver) and inspect.iscoroutine(suspended):
                suspended.close()  # never awaited: it only waits for a suspension
                result = await deliver
                return WaitResults([deliver], [result], False)
        return await super().wait_first(*coros, timeout=timeout)

    def _flowing(self) -> bool:
        return not (self.suspend_flow.is_set() or self._stopped.is_set() or self._crashed.is_set())

    def generation(self) -> int:
        """The group generation this worker is a member of, as the broker last told aiokafka:
        the generation faust stamps on the messages it fetches (``Message.generation_id``) while
        the member stands; -1 (``reset_generation``) once the broker answered that it no longer
        knows the member (expelled: a revocation that outlasted the rebalance timeout, a lost
        session), a new one after the rejoin (:mod:`pipeline.ownership`)."""
        generation: int = self._thread._ensure_consumer()._coordinator.generation
        return generation

    def disown(self, messages: Iterable[Message]) -> None:
        """Messages of a generation the worker lost, never applied: never acked (their offsets
        are never committed by this worker; the partition's new owner reads them from the
        committed offset), and no longer waited for (a revocation waits until every delivered
        message is acked: ``wait_empty`` on ``_unacked_messages``). Marked ``acked`` so that a
        later ``Message.ack`` (take_ready's) does nothing; left in :class:`SkipState`'s in-flight
        set, so the skipped offsets after them are never acked either (the rebalance that
        follows a lost generation resets it)."""
        with ack_lock:
            for message in messages:
                message.acked = True
                self._unacked_messages.discard(message)
            notify(self._waiting_for_ack)


class SkipState:
    """Per raw partition: records handed to faust and not acked yet, and the skipped offsets
    waiting for them (module doc). Messages are kept by identity: an ack of a message from
    before a reset finds nothing."""

    def __init__(self, topic: str) -> None:
        self.topic = topic  # the raw topic: other topics are never skipped
        self.dropped = 0  # records dropped unseen since the start, for the worker's stats
        self._inflight: dict[TP, set[Message]] = {}
        self._deferred: dict[TP, list[int]] = {}
        self._run: dict[TP, tuple[int, int]] = {}  # tp -> (first, next) of the skips in a row
        self._covered: dict[TP, dict[int, int]] = {}  # tp -> {delivered offset: run's first}

    def reset(self) -> None:
        self._inflight.clear()
        self._deferred.clear()
        self._run.clear()
        self._covered.clear()

    def skip(self, tp: TP, offset: int) -> None:
        self.dropped += 1
        first, next_ = self._run.get(tp, (offset, offset))
        self._run[tp] = (first if next_ == offset else offset, offset + 1)

    def deliver(self, tp: TP, message: Message) -> None:
        self._inflight.setdefault(tp, set()).add(message)
        run = self._run.pop(tp, None)
        if run is not None and run[1] == message.offset:
            self._covered.setdefault(tp, {})[message.offset] = run[0]

    def skipped_before(self, tp: TP, offset: int) -> int | None:
        """Where the run of records skipped right before the raw record at ``offset`` began
        (None: none), for the worker's gap guard (:mod:`pipeline.gaps`); told once."""
        covered = self._covered.get(tp)
        return covered.pop(offset, None) if covered else None

    def busy(self, tp: TP) -> bool:
        return bool(self._inflight.get(tp))

    def defer(self, tp: TP, offset: int) -> None:
        self._deferred.setdefault(tp, []).append(offset)

    def done(self, message: Message) -> list[int]:
        """``message`` was acked: the skipped offsets that may be acked now."""
        inflight = self._inflight.get(message.tp)
        if not inflight or message not in inflight:
            return []
        inflight.discard(message)
        if inflight:
            return []
        return self._deferred.pop(message.tp, [])


class Producer(faust_aiokafka.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        """Idempotent, at least once too (module doc)."""
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
    Producer = Producer


drivers.TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")


def broker_url(bootstrap: str) -> str:
    """faust's broker URL for ``host:port[,host:port...]`` with this transport."""
    return f"{SCHEME}://{bootstrap}"
