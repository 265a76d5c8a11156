"""The bridge's flow control decisions, without a broker: throttle, widen, resume."""

from hypothesis import given
from hypothesis import strategies as st

from precache.bridge.flow import FlowControl, Step

MIB = 1024 * 1024
GO = {"paused": False, "may_fetch": True}


def _flow(
    limit: int = 1000, prefetch: int = 100, max_body: int = 100, consumers: int = 1
) -> FlowControl:
    return FlowControl(limit, prefetch, max_body, consumers)


def _deliver(flow: FlowControl, sizes: list[int], first: int = 1) -> int:
    tag = first
    for size in sizes:
        flow.delivered(tag, size)
        tag += 1
    return tag - 1


def test_a_new_connection_waits_to_fetch_and_resumes_once_allowed() -> None:
    flow = _flow()
    assert (flow.consuming, flow.throttled) == (False, True)
    assert flow.step(paused=False, may_fetch=False) is Step.HOLD  # Kafka not ready yet
    assert flow.step(paused=True, may_fetch=True) is Step.HOLD  # shutting down
    assert flow.step(**GO) is Step.RESUME


def test_the_first_window_assumes_the_largest_body_allowed() -> None:
    flow = FlowControl(64 * MIB, 2000, 8 * MIB)
    assert flow.open() == 8  # 64 MiB / 8 MiB
    assert (flow.window, flow.consuming, flow.throttled) == (8, True, False)
    # the legacy queue too: two consumers share the free bytes
    assert FlowControl(64 * MIB, 2000, 8 * MIB, consumers=2).open() == 4


def test_throttle_only_above_the_limit() -> None:
    flow = _flow(limit=1000, prefetch=100, max_body=10)
    flow.open()
    _deliver(flow, [500, 500])
    assert flow.held.total == 1000
    assert flow.step(**GO) is Step.HOLD  # exactly the limit is still within it
    flow.delivered(3, 1)
    assert flow.step(**GO) is Step.THROTTLE
    # over the bound, shutting down or not: throttle first
    assert flow.step(paused=True, may_fetch=True) is Step.THROTTLE


def test_one_body_larger_than_the_limit_throttles() -> None:
    flow = _flow(limit=100)
    flow.open()
    flow.delivered(1, 500)
    assert flow.step(**GO) is Step.THROTTLE


def test_after_a_throttle_resume_only_at_the_mark() -> None:
    flow = _flow(limit=1000, max_body=10)
    flow.open()
    _deliver(flow, [400, 400, 201])
    assert flow.step(**GO) is Step.THROTTLE
    flow.close(resume=True)
    assert (flow.consuming, flow.throttled, flow.window) == (False, True, 0)
    flow.acked(1)  # 601 held: under the limit, above the resume mark (500)
    assert flow.step(**GO) is Step.HOLD
    flow.acked(2)  # 201 held
    assert flow.step(paused=True, may_fetch=True) is Step.HOLD
    assert flow.step(paused=False, may_fetch=False) is Step.HOLD
    assert flow.step(**GO) is Step.RESUME
    flow.open()
    assert (flow.consuming, flow.throttled) == (True, False)


def test_no_resume_after_a_shutdown_cancel() -> None:
    flow = _flow()
    flow.open()
    flow.close(resume=False)
    assert flow.step(**GO) is Step.HOLD


def test_deliveries_are_taken_up_to_the_crossing_one_then_all_once_cancelled() -> None:
    flow = _flow(limit=100, max_body=10)
    flow.open()
    taking = []
    flow.delivered(1, 100)
    taking.append(flow.taking)
    flow.delivered(2, 1)  # crosses the bound: the batch is cut here, the cancel goes out
    taking.append(flow.taking)
    flow.close(resume=True)
    taking.append(flow.taking)  # cancelled: what RabbitMQ had sent already is taken as usual
    assert taking == [True, False, True]


def test_widen_when_a_full_window_brought_bodies_smaller_than_assumed() -> None:
    flow = _flow(limit=10_000, prefetch=100, max_body=1000)
    assert flow.open() == 10
    _deliver(flow, [100] * 9)
    assert flow.step(**GO) is Step.HOLD  # window not full yet
    flow.delivered(10, 100)
    assert flow.step(**GO) is Step.WIDEN
    flow.close(resume=False)
    # sized from the largest body since the last open: 9,000 free bytes / 100
    assert flow.open() == 90
    assert flow.window == 90


def test_no_widen_while_shutting_down_or_at_prefetch_or_without_news() -> None:
    flow = _flow(limit=10_000, prefetch=100, max_body=1000)
    flow.open()
    _deliver(flow, [100] * 10)
    assert flow.step(paused=True, may_fetch=True) is Step.HOLD
    # no body since the last open: nothing says the bodies are smaller
    flow.held.take_largest()
    assert flow.step(**GO) is Step.HOLD
    # at prefetch already: nothing to widen to
    wide = _flow(limit=10**9, prefetch=5, max_body=10)
    assert wide.open() == 5
    _deliver(wide, [1] * 5)
    assert wide.step(**GO) is Step.HOLD


def test_no_widen_unless_the_window_at_least_doubles() -> None:
    def full_window_of(size: int) -> Step:
        flow = _flow(limit=10_000, prefetch=100, max_body=1000)
        assert flow.open() == 10
        _deliver(flow, [size] * 10)
        return flow.step(**GO)

    # 10 bodies of 334 held: 6,660 free bytes / 334 = 19 more, not twice the window
    assert full_window_of(334) is Step.HOLD
    # of 333: 6,670 / 333 = 20
    assert full_window_of(333) is Step.WIDEN


@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("deliver"), st.integers(0, 3000)),
            st.tuples(st.just("ack"), st.integers(0, 5)),
            st.tuples(st.just("pass"), st.booleans()),
        ),
        max_size=150,
    )
)
def test_driven_like_the_consumer_it_never_fetches_beyond_the_bound(
    ops: list[tuple[str, int | bool]],
) -> None:
    """The consumer's loop against any deliveries and acks: a new fetch's window fits in the
    free bytes (or is the one body that always gets through), and it fetches only at the
    resume mark after a throttle."""
    limit = 20_000
    flow = FlowControl(limit, 50, 4000)
    flow.open()
    tag = acked = 0
    for op, value in ops:
        if op == "deliver" and flow.consuming:
            tag += 1
            flow.delivered(tag, int(value))
        elif op == "ack":
            acked = min(tag, acked + int(value))
            flow.acked(acked)
        elif op == "pass":
            step = flow.step(paused=bool(value), may_fetch=True)
            if step is Step.THROTTLE:
                assert flow.held.total > limit
                flow.close(resume=True)
            elif step is Step.WIDEN:
                before = flow.window
                flow.close(resume=False)
                assert flow.open() >= 2 * before
            elif step is Step.RESUME:
                assert flow.held.total <= flow.held.resume_at
                assert not value  # never while shutting down
                flow.open()
            assert flow.consuming or flow.throttled


def test_a_single_active_consumer_keeps_its_one_consumer_with_the_whole_window() -> None:
    """Cancelling would hand the queue to a standby bridge: never throttled nor widened."""
    flow = FlowControl(64 * MIB, 2000, 8 * MIB, fixed=True)
    assert flow.step(**GO) is Step.RESUME  # the first consume, once Kafka is ready
    assert flow.open() == 2000  # not what 64 MiB holds at 8 MiB bodies
    _deliver(flow, [100] * 10)
    assert flow.step(**GO) is Step.HOLD  # small bodies: no widening (it is as wide as can be)
    flow.delivered(11, 65 * MIB)
    assert flow.held.over
    assert flow.taking  # the batch is not cut either
    assert flow.step(**GO) is Step.HOLD  # over max_in_flight_bytes: no basic.cancel
