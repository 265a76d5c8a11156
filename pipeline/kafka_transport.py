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

Selected with the broker URL scheme ``precache-kafka://`` (see :func:`broker_url`).
"""

import contextlib
import inspect
from collections.abc import Iterable
from typing import Any

from aiokafka.errors import IllegalStateError
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults

SCHEME = "precache-kafka"


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(self.app, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            consumer._fetch_max_wait_ms = int(wait_ms)  # read when aiokafka starts its fetcher
        return consumer


class Consumer(faust_aiokafka.Consumer):
    _held: set[Any] | None = None  # stream partitions fetchable at the next resume_flow()

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

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

    def _hold(self, tps: Iterable[Any]) -> set[Any]:
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
        active = super()._set_active_tps(tps)
        active.intersection_update(self._hold(active))
        return active

    def resume_partitions(self, tps: Iterable[Any]) -> None:
        tps = set(tps)
        now = self._hold(tps)
        self._paused_partitions.difference_update(tps - now)  # resumed, not yet fetchable
        super().resume_partitions(now)

    def pause_partitions(self, tps: Iterable[Any]) -> None:
        tps = set(tps)
        if self._held:
            self._held -= tps
        super().pause_partitions(tps)

    def stop_flow(self) -> None:
        self._held = None  # a revocation: the partitions are resumed again after it
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


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


drivers.TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")


def broker_url(bootstrap: str) -> str:
    """faust's broker URL for ``host:port[,host:port...]`` with this transport."""
    return f"{SCHEME}://{bootstrap}"
