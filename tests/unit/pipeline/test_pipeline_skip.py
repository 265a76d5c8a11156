"""The worker's consumer drops other traffic before faust builds events for it.

What must hold (pipeline/kafka_transport.py's module doc): the consumer skips exactly what the
agent would have ignored; a skipped offset is never committable before a record of its
partition delivered earlier is acked; what a rebalance throws away is forgotten; and the gap
guard is told which runs of offsets the consumer read and skipped. The consumer here is the
real faust consumer of a worker app (not started): its own ``_new_offset`` says what a commit
would commit.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from precache.pipeline.app import faust_app
from precache.pipeline.notifications import header_map, is_relevant, skippable
from precache.pipeline.settings import WorkerSettings

RAW = "skip-test.raw"
TP0 = TP(RAW, 0)
PROGRESS = b"aggregate.cache_images.progress"
OTHER = b"instance.update"


_made: list[Any] = []


@pytest.fixture(autouse=True)
def _close_consumer_threads() -> Iterator[None]:
    yield
    while _made:  # the consumer thread's own event loop, never started here
        _made.pop()._thread.thread_loop.close()


def consumer() -> Any:
    app = faust_app(WorkerSettings(app_id="skip-test", raw_topic=RAW))
    app.topics.acking_topics.add(RAW)  # what subscribing the agent's topic does
    c: Any = app.consumer
    _made.append(c)
    c._committed_offset[TP0] = None
    return c


def record(offset: int, event_type: bytes | None, topic: str = RAW) -> ConsumerRecord[Any, Any]:
    headers = [("region", b"r")] + ([("event_type", event_type)] if event_type else [])
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", b"{}", None, 1, 2, headers)


def read(c: Any, offset: int, event_type: bytes | None) -> Any:
    """What faust's getmany + drain loop do with one record: convert it, hand it on, and
    remember the read offset; returns the message, or None if it was skipped."""
    message = c._to_message(TP0, record(offset, event_type))
    if message is not None and getattr(message, "offset", None) == offset:
        c._skips.deliver(TP0, message)
        c._read_offset[TP0] = offset
        return message
    return None


async def test_skipped_offsets_wait_for_the_records_delivered_before_them() -> None:
    c = consumer()
    first = read(c, 0, PROGRESS)
    assert first is not None
    for offset in range(1, 6):
        assert read(c, offset, OTHER) is None
    assert c._new_offset(TP0) is None  # nothing acked: nothing to commit, not even offset 1..5
    c.ack(first)
    assert c._new_offset(TP0) == 6
    assert c._skips.dropped == 5


async def test_skipped_offsets_with_nothing_in_flight_are_committable_at_once() -> None:
    c = consumer()
    for offset in range(10):
        read(c, offset, OTHER)
    assert c._new_offset(TP0) == 10


async def test_a_skip_between_two_delivered_records_waits_for_both() -> None:
    c = consumer()
    a = read(c, 0, PROGRESS)
    read(c, 1, OTHER)
    b = read(c, 2, PROGRESS)
    read(c, 3, OTHER)
    c.ack(a)
    assert c._new_offset(TP0) == 1  # offset 1 is still deferred: b is in flight
    c.ack(b)
    assert c._new_offset(TP0) == 4


async def test_a_rebalance_forgets_deferred_skips_and_old_messages() -> None:
    c = consumer()
    old = read(c, 0, PROGRESS)
    read(c, 1, OTHER)
    c._skips.reset()  # stop_flow / new assignment / resume_flow after the buffers are cleared
    c._read_offset[TP0] = None  # the new assignment seeks to the committed offset
    new = read(c, 0, PROGRESS)
    read(c, 1, OTHER)
    c.ack(old)  # a message of before the reset finds nothing to release
    assert c._skips.busy(TP0)
    c.ack(new)
    assert c._new_offset(TP0) == 2


async def test_records_below_the_read_offset_are_neither_skipped_nor_acked() -> None:
    c = consumer()
    c._read_offset[TP0] = 10
    assert read(c, 3, OTHER) is None
    assert c._skips.dropped == 0
    assert c._new_offset(TP0) is None


async def test_records_without_a_readable_event_type_header_go_to_the_agent() -> None:
    c = consumer()
    assert read(c, 0, None) is not None
    assert read(c, 1, "é".encode()) is not None
    assert read(c, 2, b"\xff\xfe") is not None
    assert read(c, 3, PROGRESS) is not None
    assert c._skips.dropped == 0


async def test_other_topics_are_never_skipped() -> None:
    c = consumer()
    tp = TP("skip-test.ticks", 0)
    message = c._to_message(tp, record(0, OTHER, topic="skip-test.ticks"))
    assert message.offset == 0


async def test_the_gap_guard_learns_where_each_run_of_skips_began() -> None:
    c = consumer()
    read(c, 0, PROGRESS)
    for offset in (1, 2, 3):
        read(c, offset, OTHER)
    read(c, 4, PROGRESS)
    read(c, 6, OTHER)  # offset 5 never came: not part of a run
    read(c, 7, PROGRESS)
    assert c._skips.skipped_before(TP0, 4) == 1
    assert c._skips.skipped_before(TP0, 4) is None  # told once
    assert c._skips.skipped_before(TP0, 7) == 6  # the guard still sees 5 missing (6 > expected 5)
    assert c._skips.skipped_before(TP0, 0) is None


headers = st.lists(
    st.tuples(
        st.sampled_from(["event_type", "region", "x"]),
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from([PROGRESS, OTHER, b"aggregate.cache_images.", b"aggregate.cache"]),
            st.none(),
        ),
    ),
    max_size=4,
)


@given(headers)
def test_the_consumer_skips_exactly_what_the_agent_ignores_by_header(
    h: list[tuple[str, bytes | None]],
) -> None:
    assert skippable(h) == (not is_relevant(header_map(h)))  # type: ignore[arg-type]
