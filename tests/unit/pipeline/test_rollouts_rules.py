"""The rollouts' rules (pipeline.rollouts): which records of precache.rollout are dead letters,
how events merge into a target's record (by their own times, idempotent), and the open series
a restarted rollout or keep-warm counts its retries from."""

import json
from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st

from precache.pipeline.rollouts import (
    BAD_RECORD,
    KEY_MISMATCH,
    MAX_REQUESTS,
    UNKNOWN_TYPE,
    BadRollout,
    Event,
    Record,
    decode,
    matches,
    merge,
    open_series,
    view,
)
from tests.support.rollout_events import AGGREGATE, at, record, request, target


def fold(*events: Event) -> Record:
    def step(rec: Record | None, event: Event) -> Record | None:
        return merge(rec, event) or rec

    out = reduce(step, events, None)
    assert out is not None
    return out


def test_a_good_record_decodes() -> None:
    event = request(1)
    assert decode(*record(event)) == event


@pytest.mark.parametrize(
    ("key", "value", "reason", "error"),
    [
        (b"eu-1/x", b"", BAD_RECORD, "empty value"),
        (b"eu-1/x", b"{not json", BAD_RECORD, "not JSON"),
        (b"eu-1/x", b"[1]", BAD_RECORD, "not a JSON object but list"),
        (b"eu-1/x", b'{"type": "precache.operation.status"}', UNKNOWN_TYPE, "no rollout event"),
        (b"eu-1/x", b'{"type": "precache.rollout.request"}', BAD_RECORD, "specversion: Field"),
    ],
)
def test_bad_records_say_why(key: bytes, value: bytes, reason: str, error: str) -> None:
    with pytest.raises(BadRollout) as caught:
        decode(key, value)
    assert caught.value.reason == reason
    assert error in str(caught.value)


def test_a_field_out_of_the_contract_is_named() -> None:
    key, value = record(request(1))
    doc = json.loads(value)
    doc["data"]["attempt"] = 0
    with pytest.raises(BadRollout, match=r"data\.attempt: Input should be greater"):
        decode(key, json.dumps(doc).encode())


def test_a_key_that_is_not_the_target_is_a_dead_letter() -> None:
    _, value = record(request(1))
    with pytest.raises(BadRollout) as caught:
        decode(b"eu-1/another-aggregate", value)
    assert caught.value.reason == KEY_MISMATCH


def test_requests_then_ready_close_the_series() -> None:
    rec = fold(request(1, 1), request(5, 2))
    assert open_series(rec, "rollout") == {
        "goal": "g1-a", "attempts": 2, "since": None, "last_request_at": at(5),
        "request_ids": [q["request_id"] for q in rec["requests"]],
    }  # fmt: skip
    done = fold(request(1, 1), request(5, 2), target(9, "failed"))
    assert open_series(done, "rollout") is None
    assert view(done)["state"] == "failed"
    assert view(done)["settled"]["rollout"]["state"] == "failed"
    # a rerun after a failed rollout starts a new series
    again = merge(done, request(12, 1))
    assert again is not None
    assert open_series(again, "rollout")["attempts"] == 1  # type: ignore[index]
    assert view(again)["state"] == "requested"
    assert view(again)["requests_total"] == 3


def test_a_request_for_another_goal_closes_the_series() -> None:
    """Other images or gate: the attempts before say nothing of how these will fare."""
    rec = fold(request(1, 1, goal="g1-a"), request(5, 2, goal="g1-a"), request(9, 1, goal="g1-b"))
    assert open_series(rec, "rollout") == {
        "goal": "g1-b", "attempts": 1, "since": at(5), "last_request_at": at(9),
        "request_ids": [rec["requests"][2]["request_id"]],
    }  # fmt: skip
    assert view(rec)["open"]["rollout"]["goal"] == "g1-b"
    # back to the first goal: its earlier attempts were interrupted, a new series
    back = merge(rec, request(12, 1, goal="g1-a"))
    assert back is not None
    series = open_series(back, "rollout")
    assert series is not None
    assert (series["goal"], series["attempts"], series["since"]) == ("g1-a", 1, at(9))
    # a settlement of any goal closes it, and records which goal it reached
    done = merge(back, target(15, "ready", goal="g1-a"))
    assert done is not None
    assert open_series(done, "rollout") is None
    assert view(done)["settled"]["rollout"]["goal"] == "g1-a"


def test_records_from_before_goals_are_a_goal_of_their_own() -> None:
    """Events and a changelog written before ``goal`` existed: no such field or key (None)."""
    key, value = record(request(1))
    doc = json.loads(value)
    del doc["data"]["goal"]
    assert decode(key, json.dumps(doc).encode()).data.goal is None
    old = fold(request(1, 1, goal=None), request(5, 2, goal=None))
    for q in old["requests"]:
        del q["goal"]  # as an older worker stored them
    series = open_series(old, "rollout")
    assert series is not None
    assert (series["goal"], series["attempts"]) == (None, 2)
    newer = merge(old, request(9, 1, goal="g1-a"))
    assert newer is not None
    series = open_series(newer, "rollout")
    assert series is not None
    assert (series["goal"], series["attempts"], series["since"]) == ("g1-a", 1, at(5))


def test_keep_warm_counts_per_window_and_apart_from_rollout() -> None:
    rec = fold(
        request(1, 1, "keep-warm"), target(4, "ready", "keep-warm"),  # window 1, closed
        request(20, 1, "keep-warm"), request(30, 2, "keep-warm"),  # window 2, two tries
        request(25, 1, "rollout"),
    )  # fmt: skip
    assert open_series(rec, "keep-warm")["attempts"] == 2  # type: ignore[index]
    assert open_series(rec, "rollout")["attempts"] == 1  # type: ignore[index]
    assert set(view(rec)["open"]) == {"keep-warm", "rollout"}


def test_redelivery_and_order_change_nothing() -> None:
    first, second, ready = request(1, 1), request(5, 2), target(9)
    rec = fold(first, second, ready)
    assert merge(rec, first) is None  # the same request again
    assert merge(rec, ready) is None  # the same settlement again
    assert merge(rec, target(3)) is None  # an older one
    shuffled = fold(ready, second, first)
    assert shuffled["requests"] == rec["requests"]
    assert shuffled["latest"] == rec["latest"]
    assert open_series(shuffled, "rollout") is None  # both requests before the ready


def test_the_history_is_bounded_but_the_attempt_number_is_kept() -> None:
    events = [request(i, attempt=i + 1, mode="keep-warm") for i in range(MAX_REQUESTS + 5)]
    rec = fold(*events)
    assert len(rec["requests"]) == MAX_REQUESTS
    assert rec["requests_total"] == MAX_REQUESTS + 5
    assert open_series(rec, "keep-warm")["attempts"] == MAX_REQUESTS + 5  # type: ignore[index]


def test_the_newest_name_wins_and_filters_match_uuid_or_name() -> None:
    renamed = {**AGGREGATE, "name": "frontend"}
    rec = fold(request(1), request(2, 2, aggregate=renamed))
    assert rec["aggregate"]["name"] == "frontend"
    assert matches(rec, [], [])
    assert matches(rec, ["eu-1"], ["frontend"])
    assert matches(rec, [], [str(AGGREGATE["uuid"])])
    assert not matches(rec, ["us-1"], [])
    assert not matches(rec, [], ["web"])


@given(
    st.lists(
        st.tuples(st.sampled_from(["request", "ready", "failed"]), st.sampled_from(["a", "b"])),
        min_size=1,
        max_size=12,
    )
)
def test_the_open_series_is_the_newest_run_of_one_goal(steps: list[tuple[str, str]]) -> None:
    """Whatever the events: the series is every request after the last settlement and after
    the last request for another goal, and nothing else."""
    events: list[Event] = [
        request(i, goal=f"g1-{g}") if kind == "request" else target(i, kind, goal=f"g1-{g}")
        for i, (kind, g) in enumerate(steps)
    ]
    rec = fold(*events)
    expected: list[str] = []
    for kind, g in steps:
        if kind != "request":
            expected = []
        elif expected and expected[-1] != g:
            expected = [g]
        else:
            expected.append(g)
    series = open_series(rec, "rollout")
    if not expected:
        assert series is None
        return
    assert series is not None
    assert series["goal"] == f"g1-{expected[0]}"
    assert series["attempts"] == len(expected)  # each request() is attempt 1
    assert len(series["request_ids"]) == len(expected)
    assert series["last_request_at"] == rec["requests"][-1]["at"]
