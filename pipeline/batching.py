"""Natural batching: the agent takes what its stream has buffered as soon as it is free.

faust's ``Stream.take_events(max_, within)`` hands a batch over only when it holds ``max_``
events or ``within`` seconds have passed: on a quiet stream every notification waited up to
the window (0.1 s) before the agent even looked at it. :func:`take_ready` is the same
machinery (a processor fills a buffer while the stream is consumed passively; the agent gets a
list of events; the events are acked after the agent is done with them) with one change: the
batch is handed over as soon as the stream's queue is empty (everything delivered so far is
in the buffer) or the buffer holds ``max_`` events. While the agent applies a batch (its sends
and state writes wait for Kafka), the records that arrive stay in the stream's queue and make
the next batch: batches grow with the load, up to ``max_``, and never wait for more.

"Queue empty", not "one event": faust's stream loop yields to the event loop before every
event (``await sleep(0)`` in ``Stream._py_aiter``), so waking the agent at the first event
handed it batches of one event each, whatever the backlog (measured: 544 records/s).

"Queue empty" is checked by the filler, i.e. only when an event reaches the stream's
processors; faust's stream drops some events before its processors (an event of an older
consumer generation or taken while flow control is suspended, i.e. around a rebalance; a queue
cleared when flow control resumes), so the last event the filler saw may have seen a queue that
was not empty and no later check comes (tests/unit/pipeline/test_batching.py shows it with an
older generation's event). The inventory agent met such a stall (a spawn's touch applied 60 s
late, at the worker's stop); the operations agent's ticks hid it. The agent therefore also
looks every ``idle_s`` (1 s, as the ticks): whatever is buffered while the queue is empty is
handed over then, whatever the reason no event said so.

Acks are faust's: every event of a batch is acked after the agent's loop body returned, or
when the generator is closed (the agent raised or was cancelled). The worker never lets a
worker-level failure get that far (:mod:`pipeline.agents` exits with status 70 first), so a
batch is acked only once its effects are in Kafka. A batch the agent dropped because the
worker lost its partitions is never acked: its messages are disowned first
(:mod:`pipeline.ownership`), and faust's ack of a disowned message does nothing.

One change to when: the agent may set a batch's ``acks_after`` (an awaitable: its state
writes' confirmation) and go on with the next batch; the batch's events are then acked when
that completes, and never if it fails (the worker is exiting then). That takes the state
writes' round trip off the path of the next batch (:mod:`pipeline.agents`).
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from mode.utils.futures import notify


class EventBatch(list[Any]):
    """The events of one batch; ``acks_after``: their acks wait for it (set by the agent)."""

    acks_after: Awaitable[Any] | None = None


IDLE_S = 1.0  # how often the agent looks at a buffer the filler did not hand over


async def take_ready(stream: Any, max_: int, idle_s: float = IDLE_S) -> AsyncIterator[EventBatch]:
    """Yield lists of 1 to ``max_`` events: whatever is buffered when the agent asks."""
    buffer: list[Any] = []
    ready = asyncio.Event()  # the buffer holds what the stream's queue had
    queue = getattr(stream.channel, "queue", None)
    caught_up: Any = queue.empty if queue is not None else (lambda: True)
    consumed = asyncio.Event()  # the agent took the buffer: the filler may go on
    consuming: asyncio.Future[None] | None = None  # set while the agent holds a batch
    acking: set[asyncio.Task[None]] = set()  # acks waiting for their batch's ``acks_after``

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            while consuming is not None:  # the agent holds a batch (maybe a newer one)
                await consuming
            event = stream.current_event
            if event is None:
                raise RuntimeError("take_ready found current_event is None")
            buffer.append(event)
            if len(buffer) >= max_:
                ready.set()
                consumed.clear()
                await stream.wait(consumed)  # never more than max_ events in one batch
            elif caught_up():
                ready.set()
        except asyncio.CancelledError:  # pragma: no cover
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False  # events are acked here, after the agent is done with them
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    while not stream.should_stop:
        await stream.wait_for_stopped(ready, timeout=idle_s)
        if not buffer or not (ready.is_set() or caught_up() or stream.should_stop):
            continue
        consuming = stream.loop.create_future()  # the filler waits while we hand over
        events = EventBatch(buffer)
        try:
            yield events
        finally:
            buffer.clear()
            ready.clear()
            after = events.acks_after
            if after is None:
                for event in events:
                    await stream.ack(event)
            else:
                task = asyncio.ensure_future(_ack_after(stream, events, after))
                acking.add(task)
                task.add_done_callback(acking.discard)
            held, consuming = consuming, None
            notify(held)
            consumed.set()


async def _ack_after(stream: Any, events: list[Any], after: Awaitable[Any]) -> None:
    try:
        await after
    except BaseException:  # not confirmed, or cancelled: never acked (the worker is exiting)
        return
    for event in events:
        await stream.ack(event)
