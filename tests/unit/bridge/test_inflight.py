import pytest
from hypothesis import given
from hypothesis import strategies as st

from precache.bridge.inflight import InFlightBytes


def test_a_multiple_ack_releases_every_tag_up_to_it() -> None:
    held = InFlightBytes(1000)
    for tag, size in ((1, 100), (2, 200), (3, 300), (4, 50)):
        held.add(tag, size)
    assert (held.total, len(held)) == (650, 4)
    assert held.release(2) == 300
    assert (held.total, len(held)) == (350, 2)
    assert held.release(4) == 350
    assert (held.total, len(held)) == (0, 0)


def test_an_ack_below_every_held_tag_or_repeated_frees_nothing() -> None:
    held = InFlightBytes(1000)
    held.add(5, 10)
    held.add(6, 20)
    assert held.release(4) == 0
    assert held.release(5) == 10
    assert held.release(5) == 0
    assert held.total == 20


def test_an_ack_between_tags_releases_the_ones_below() -> None:
    held = InFlightBytes(1000)
    for tag in (10, 20, 30):  # tags grow; a gap: a delivery py-amqp rejected itself
        held.add(tag, 1)
    assert held.release(25) == 2
    assert held.total == 1


def _state(held: InFlightBytes) -> tuple[bool, bool]:
    return held.over, held.may_resume


def test_over_above_the_limit_and_resume_at_half_without_flapping() -> None:
    held = InFlightBytes(100)
    held.add(1, 30)
    held.add(2, 70)
    assert _state(held) == (False, False)  # exactly the limit is still within it
    held.add(3, 1)
    assert _state(held) == (True, False)
    held.release(1)  # 71 left: under the limit, still above the resume mark
    assert _state(held) == (False, False)
    held.release(2)  # 1 left
    assert _state(held) == (False, True)


def test_one_message_larger_than_the_limit_is_over_until_acked() -> None:
    held = InFlightBytes(100)
    held.add(1, 500)
    assert held.over
    held.release(1)
    assert held.total == 0
    assert held.may_resume


def test_resume_mark_defaults_to_half_and_is_checked() -> None:
    assert InFlightBytes(64).resume_at == 32
    assert InFlightBytes(64, resume_at=10).resume_at == 10
    with pytest.raises(ValueError, match="resume_at"):
        InFlightBytes(64, resume_at=65)
    with pytest.raises(ValueError, match="limit"):
        InFlightBytes(0)


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(1, 5), st.integers(0, 10_000)),
            st.tuples(st.just("ack"), st.integers(0, 8), st.just(0)),
        ),
        max_size=200,
    )
)
def test_total_is_always_the_bytes_of_the_unacked_tags(
    steps: list[tuple[str, int, int]],
) -> None:
    """Against a plain model: tags grow by arbitrary steps, acks land anywhere (even behind)."""
    held = InFlightBytes(50_000)
    model: dict[int, int] = {}
    tag = 0
    for op, step, size in steps:
        if op == "add":
            tag += step
            held.add(tag, size)
            model[tag] = size
        else:
            upto = max(0, tag - step)
            freed = sum(s for t, s in model.items() if t <= upto)
            model = {t: s for t, s in model.items() if t > upto}
            assert held.release(upto) == freed
        assert held.total == sum(model.values())
        assert len(held) == len(model)
        assert held.over == (held.total > 50_000)
        assert held.may_resume == (held.total <= 25_000)


def test_largest_is_the_biggest_body_since_it_was_last_taken() -> None:
    held = InFlightBytes(1000)
    held.add(1, 30)
    held.add(2, 70)
    held.add(3, 50)
    assert held.take_largest() == 70
    assert held.take_largest() == 0
    held.add(4, 20)
    held.release(4)  # released or not, it was seen
    assert held.take_largest() == 20


def test_window_is_what_the_free_bytes_hold_at_that_size() -> None:
    held = InFlightBytes(64 * 1024 * 1024)
    # at connect, sized for the largest body allowed: 64 MiB / 8 MiB
    assert held.window(2000, 8 * 1024 * 1024) == 8
    # two consumers (the legacy queue too) share the bytes
    assert held.window(2000, 8 * 1024 * 1024, consumers=2) == 4
    # small bodies: the prefetch count is the bound
    assert held.window(2000, 1500) == 2000


def test_window_counts_what_is_held_already() -> None:
    held = InFlightBytes(1000)
    for tag in range(1, 7):
        held.add(tag, 100)  # 600 held: 400 free
    assert held.window(2000, 100) == 4
    assert held.window(8, 10) == 2  # 6 deliveries held of a prefetch of 8


def test_window_is_never_zero_so_a_body_always_gets_through() -> None:
    held = InFlightBytes(1000)
    assert held.window(2000, 5000) == 1
    held.add(1, 1500)  # over the limit already
    assert held.window(2000, 10) == 1
    assert held.window(1, 10) == 1


@given(
    held_sizes=st.lists(st.integers(0, 3000), max_size=30),
    size=st.integers(1, 5000),
    prefetch=st.integers(1, 100),
    consumers=st.integers(1, 3),
)
def test_a_full_window_of_bodies_that_size_stays_within_the_limit(
    held_sizes: list[int], size: int, prefetch: int, consumers: int
) -> None:
    held = InFlightBytes(20_000)
    for tag, body in enumerate(held_sizes, start=1):
        held.add(tag, body)
    window = held.window(prefetch, size, consumers)
    assert window >= 1
    if window > 1:  # more than the one body that always gets through
        assert held.total + consumers * window * size <= held.limit
        assert len(held) + window <= prefetch
