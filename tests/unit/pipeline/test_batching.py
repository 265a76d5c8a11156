"""``take_ready`` (pipeline/batching.py) driven through a real faust stream.

The stream is faust's own: a ``faust.App`` (memory store, never started, no broker), a channel
stream as faust's functional tests build it (``app.channel().stream()``), messages delivered
with ``channel.deliver`` as the consumer's conductor does. Acks are read from faust's own
bookkeeping: ``Message.acked``, set by ``event.ack()`` when ``take_ready`` acks the event.

Every test bounds each wait for a batch (``BATCH_WAIT_S``): a ``take_ready`` that waited for
more events than it should fails with a timeout instead of hanging. That is no timing
assertion: no test depends on how fast anything runs.
"""

import asyncio
import gc
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, cast

import faust
import pytest
from faust.types import Message

from precache.pipeline import batching

BATCH_WAIT_S = 10.0
TOPIC = "batching-test"

_apps: list[Any] = []


@pytest.fixture(autouse=True)
def _close_consumer_threads() -> Iterator[None]:
    yield
    while _apps:  # the consumer the stream looked up (never started) has a loop of its own
        consumer = _apps.pop()._consumer
        if consumer is not None:
            consumer._thread.thread_loop.close()


@pytest.fixture
async def stream() -> AsyncIterator[Any]:
    app = faust.App("batching-test", store="memory://", autodiscover=False)
    app.finalize()
    _apps.append(app)
    app.flow_control.resume()  # suspended until a worker's first assignment otherwise
    s = app.channel(maxsize=1000).stream()
    async with s:
        yield s


async def deliver(
    stream: Any, n: int, first: int = 0, generation: int | None = None
) -> list[Message]:
    """Put ``n`` messages on the stream's channel, as the conductor hands records over (of the
    consumer's current generation unless told: the stream drops older ones)."""
    if generation is None:
        generation = stream.app.consumer_generation_id
    messages = []
    for offset in range(first, first + n):
        value = b"v%d" % offset
        message = Message(
            TOPIC, 0, offset, time.time(), 0, [], b"k", value, None, generation_id=generation
        )
        await stream.channel.deliver(message)
        messages.append(message)
    return messages


async def next_batch(batches: AsyncGenerator[list[Any], None]) -> list[Any]:
    return await asyncio.wait_for(anext(batches), BATCH_WAIT_S)


def take_ready(stream: Any, max_: int) -> AsyncGenerator[list[Any], None]:
    """``batching.take_ready`` as what it is, an async generator (its annotation says
    ``AsyncIterator``): the tests close it as faust closes an agent's."""
    return cast(AsyncGenerator[list[Any], None], batching.take_ready(stream, max_))


def offsets(batch: list[Any]) -> list[int]:
    return [event.message.offset for event in batch]


async def test_a_batch_is_handed_over_when_the_queue_is_empty(stream: Any) -> None:
    """Three events, max 1,000: one batch of three, without waiting for more."""
    await deliver(stream, 3)
    batches = take_ready(stream, 1000)
    assert offsets(await next_batch(batches)) == [0, 1, 2]
    # and on a live stream: what arrived while the agent held a batch makes the next one
    await deliver(stream, 2, first=3)
    assert offsets(await next_batch(batches)) == [3, 4]
    await batches.aclose()


async def test_a_lone_event_is_handed_over_when_the_next_one_was_dropped(stream: Any) -> None:
    """The stall the inventory agent met: the filler saw event 0 with event 1 still queued, then
    faust's stream dropped event 1 before the processors (a record fetched before a rebalance:
    an older consumer generation), so no later event told the filler the queue was empty. The
    agent's own look at an idle buffer (``idle_s``, default) hands event 0 over without any
    further event arriving; a take_ready that waits for the filler alone never does (the wait
    is bounded: it fails with a timeout)."""
    await deliver(stream, 1)
    await deliver(stream, 1, first=1, generation=stream.app.consumer_generation_id - 1)
    batches = take_ready(stream, 1000)
    assert offsets(await next_batch(batches)) == [0]
    # and the filler goes on as before: what arrives next makes the next batch
    await deliver(stream, 2, first=2)
    assert offsets(await next_batch(batches)) == [2, 3]
    await batches.aclose()


async def test_never_more_than_max_events_in_a_batch(stream: Any) -> None:
    """2.5 x max_ events already buffered: batches of max_, max_, then the rest."""
    await deliver(stream, 10)
    batches = take_ready(stream, 4)
    assert offsets(await next_batch(batches)) == [0, 1, 2, 3]
    assert offsets(await next_batch(batches)) == [4, 5, 6, 7]
    assert offsets(await next_batch(batches)) == [8, 9]
    await batches.aclose()


async def test_events_are_acked_only_after_the_loop_body_returned(stream: Any) -> None:
    """The agent's body runs between two ``anext`` calls: while it runs, nothing of its batch
    is acked; asking for the next batch (the body returned) acks all of it."""
    first = await deliver(stream, 3)
    batches = take_ready(stream, 1000)
    batch = await next_batch(batches)
    assert [e.message for e in batch] == first
    assert not any(m.acked for m in first)  # the body is running
    second = await deliver(stream, 2, first=3)
    assert [e.message for e in await next_batch(batches)] == second
    assert all(m.acked for m in first)
    assert not any(m.acked for m in second)
    await batches.aclose()
    assert all(m.acked for m in second)  # closing the generator acks the batch it handed out


class Boom(Exception):
    pass


async def test_a_batch_whose_body_raised_is_acked_all_the_same(stream: Any) -> None:
    """faust's contract, kept by ``take_ready``: when the agent's body raises, the batch
    generator is closed (asyncio's async-generator finalizer runs its ``aclose()`` once the
    agent's frame lets go of it) and its ``finally`` acks every event of the batch, as
    ``Stream.take_events`` does. The next offset commit then covers records whose effects were
    never written: why pipeline/agents.py's ``guarded`` ends the process (``os._exit``, no
    ``finally`` runs) before a worker-level failure can leave the body."""
    messages = await deliver(stream, 3)
    held: list[Any] = []

    async def agent() -> None:  # the shape of pipeline/agents.py's ``operations``
        async for batch in take_ready(stream, 1000):
            held.extend(batch)
            assert not any(m.acked for m in messages)
            raise Boom

    with pytest.raises(Boom):
        await asyncio.wait_for(agent(), BATCH_WAIT_S)
    assert [e.message for e in held] == messages
    deadline = asyncio.get_running_loop().time() + BATCH_WAIT_S
    while not all(m.acked for m in messages) and asyncio.get_running_loop().time() < deadline:
        gc.collect()  # as faust's own tests: let the finalizer see the dropped generator
        await asyncio.sleep(0.01)
    assert all(m.acked for m in messages)


async def test_a_batch_with_acks_after_is_acked_when_it_completes(stream: Any) -> None:
    """The agent may go on with the next batch while Kafka confirms a batch's state writes
    (``EventBatch.acks_after``): its events are acked only when that completes."""
    first = await deliver(stream, 3)
    batches = take_ready(stream, 1000)
    batch = cast(batching.EventBatch, await next_batch(batches))
    confirmed = asyncio.get_running_loop().create_future()
    batch.acks_after = confirmed
    second = await deliver(stream, 2, first=3)
    assert [e.message for e in await next_batch(batches)] == second  # the next batch: at once
    assert not any(m.acked for m in first)  # not confirmed yet
    confirmed.set_result(None)
    for _ in range(100):  # the ack task's turns: it awaits the future, then acks each event
        if all(m.acked for m in first):
            break
        await asyncio.sleep(0)
    assert all(m.acked for m in first)
    assert not any(m.acked for m in second)  # its body is still running
    await batches.aclose()


async def test_a_batch_whose_acks_after_failed_is_never_acked(stream: Any) -> None:
    """A state write that failed: the worker is exiting, the batch must be read again."""
    first = await deliver(stream, 3)
    batches = take_ready(stream, 1000)
    batch = cast(batching.EventBatch, await next_batch(batches))
    failed = asyncio.get_running_loop().create_future()
    batch.acks_after = failed
    failed.set_exception(Boom("changelog write refused"))
    second = await deliver(stream, 1, first=3)
    assert [e.message for e in await next_batch(batches)] == second
    for _ in range(20):  # the ack task has run by now (it only awaited a done future)
        await asyncio.sleep(0)
    assert not any(m.acked for m in first)
    await batches.aclose()
