"""The filters of GET /operations (pipeline.operation_query): parsed from the query, matched
against the worker's summaries, forwarded to the other workers unchanged."""

from typing import Any

import pytest

from precache.pipeline.operation import Summary
from precache.pipeline.operation_query import BadQuery, Query, parse


def summary(**fields: Any) -> Summary:
    base: dict[str, Any] = {
        "state": "running", "region": "eu-1", "aggregate": {"uuid": "agg-1"},
        "request_id": "req-1", "global_request_id": "g-1", "completed_at": None,
    }  # fmt: skip
    return base | fields  # type: ignore[return-value]


RUNNING = summary()
DONE = summary(
    state="completed", completed_at="2026-12-06T07:00:05.000000Z", request_id="req-2",
    global_request_id="g-2",
)  # fmt: skip
OTHER = summary(
    region="us-1", aggregate={"uuid": "agg-2"}, request_id=None, global_request_id="g-3"
)


def picked(query: str) -> list[Summary]:
    pairs = [tuple(p.split("=", 1)) for p in query.split("&")] if query else []
    q = parse(pairs)  # type: ignore[arg-type]
    return [s for s in (RUNNING, DONE, OTHER) if q.matches(s)]


def test_no_filter_is_everything() -> None:
    assert picked("") == [RUNNING, DONE, OTHER]
    assert picked("local=1") == [RUNNING, DONE, OTHER]


def test_each_filter() -> None:
    assert picked("state=running") == [RUNNING, OTHER]
    assert picked("state=running&state=completed") == [RUNNING, DONE, OTHER]
    assert picked("region=us-1") == [OTHER]
    assert picked("aggregate=agg-1") == [RUNNING, DONE]
    assert picked("request_id=req-2&request_id=g-3") == [DONE, OTHER]  # Nova's or the global id
    assert picked("completed_since=2026-12-06T07:00:05Z") == [DONE]
    assert picked("completed_since=2026-12-06T07:00:05.000001Z") == []
    assert picked("completed_since=2026-12-06T08:00:00+01:00") == [DONE]  # any zone


def test_different_keys_must_all_hold() -> None:
    assert picked("state=running&region=eu-1") == [RUNNING]
    assert picked("state=completed&region=us-1") == []


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("stat=running", "unknown parameter 'stat'"),
        ("state=done", "state: 'done' is not one of completed, running, stalled"),
        ("region=", "region: empty value"),
        ("completed_since=yesterday", "'yesterday' is not an ISO 8601 time"),
        ("completed_since=2026-12-06T07:00:00", "has no time zone"),
        (
            "completed_since=2026-12-06T07:00:00Z&completed_since=2026-12-06T08:00:00Z",
            "more than once",
        ),
    ],
)
def test_bad_parameters_are_named(query: str, error: str) -> None:
    with pytest.raises(BadQuery, match=error):
        picked(query)


def test_params_round_trip() -> None:
    q = parse([("state", "running"), ("region", "b"), ("region", "a"), ("request_id", "r"),
               ("aggregate", "x"), ("completed_since", "2026-12-06T07:00:00Z")])  # fmt: skip
    assert parse(q.params()) == q
    assert Query().params() == []
