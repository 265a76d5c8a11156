"""The pipeline's edge (docs/pipeline-input.md): each field accepted, normalised or rejected
with its reason code; the issue 9 values that crashed the worker or gave wrong results."""

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from precache.pipeline.notifications import (
    MAX_HOSTS,
    End,
    MalformedNotification,
    Notification,
    Progress,
    Start,
    header_map,
    nova_time,
    parse,
)
from tests.support.nova_samples import conductor_messages

HEADERS = {"region": "region-a"}
Mutation = Callable[[dict[str, Any]], None]


def message(kind: str) -> dict[str, Any]:
    """A real conductor message of that kind (start, progress, end)."""
    for m in conductor_messages():
        if m["event_type"] == f"aggregate.cache_images.{kind}":
            return m
    raise AssertionError(kind)


def data(m: dict[str, Any]) -> dict[str, Any]:
    return m["payload"]["nova_object.data"]  # type: ignore[no-any-return]


def encode(m: dict[str, Any]) -> bytes:
    """The stdlib writes integers exactly, whatever their size: as Nova's JSON would."""
    return json.dumps(m).encode()


def parsed(kind: str, mutate: Mutation, headers: dict[str, str] = HEADERS) -> Notification:
    m = copy.deepcopy(message(kind))
    mutate(m)
    n = parse(encode(m), headers)
    assert n is not None
    return n


def rejected(kind: str, mutate: Mutation, headers: dict[str, str] = HEADERS) -> str:
    m = copy.deepcopy(message(kind))
    mutate(m)
    with pytest.raises(MalformedNotification) as info:
        parse(encode(m), headers)
    assert str(info.value)  # the human detail
    return info.value.reason


def set_data(**fields: Any) -> Mutation:
    return lambda m: data(m).update(fields)


def set_top(**fields: Any) -> Mutation:
    return lambda m: m.update(fields)


# --- issue 9, item 1: values that crashed the agent ------------------------------------------


def test_an_offset_is_converted_to_utc() -> None:
    n = parsed("progress", set_top(timestamp="2026-11-23 19:04:24+05:00"))
    assert n.timestamp == "2026-11-23T14:04:24.000000Z"


def test_a_day_that_does_not_exist_is_dead_lettered() -> None:
    assert rejected("progress", set_top(timestamp="2026-02-30 10:00:00")) == "bad_timestamp"


@pytest.mark.parametrize("kind", ["progress", "start", "end"])
def test_a_4301_digit_host_is_dead_lettered(kind: str) -> None:
    host = "9" * 4301
    if kind == "progress":
        assert rejected(kind, set_data(host=host)) == "bad_host"
    else:
        assert rejected(kind, set_data(hosts=["guaranine1", host])) == "bad_hosts"


# --- issue 9, item 5: values that gave wrong results ------------------------------------------


@pytest.mark.parametrize(
    "stamp",
    ["2026-11-23 19:04:24.662740garbage", "2026-11-23 19:04:24.662740\n", "2026-11-23 19:04:24 "],
)
def test_trailing_garbage_in_a_timestamp_is_dead_lettered(stamp: str) -> None:
    assert rejected("start", set_top(timestamp=stamp)) == "bad_timestamp"


def test_whole_seconds_sort_before_their_fractions() -> None:
    """``...:24`` sorted after ``...:24.5`` as text: a negative duration."""
    whole = parsed("start", set_top(timestamp="2026-11-23 19:04:24")).timestamp
    half = parsed("progress", set_top(timestamp="2026-11-23 19:04:24.5")).timestamp
    assert whole == "2026-11-23T19:04:24.000000Z"
    assert half == "2026-11-23T19:04:24.500000Z"
    assert whole < half


@pytest.mark.parametrize("agg_id", [10**30, 1e30, 2**63, 2**64, -1, True, 1.0, "2"])
def test_an_aggregate_id_out_of_range_is_dead_lettered_not_rewritten(agg_id: Any) -> None:
    assert rejected("progress", set_data(id=agg_id)) == "bad_aggregate"


@pytest.mark.parametrize("agg_id", [0, 2, 2**63 - 1, None])
def test_an_aggregate_id_in_range_is_kept_exactly(agg_id: int | None) -> None:
    assert parsed("progress", set_data(id=agg_id)).aggregate.id == agg_id


@pytest.mark.parametrize("total", [10**12, MAX_HOSTS + 1, 10**30, True, False, 0, -1, 12.0, "12"])
def test_a_total_out_of_range_is_dead_lettered(total: Any) -> None:
    assert rejected("progress", set_data(total=total)) == "bad_total"


def test_the_largest_total_is_accepted() -> None:
    n = parsed("progress", set_data(total=MAX_HOSTS))
    assert isinstance(n, Progress)
    assert n.total == MAX_HOSTS


def test_a_duplicate_host_in_a_start_is_dead_lettered() -> None:
    hosts = ["guaranine1", "guaranine2", "guaranine1"]
    assert rejected("start", set_data(hosts=hosts)) == "duplicate_host"


def test_a_lone_end_without_hosts_is_parsed_for_the_rules_to_judge() -> None:
    """Not rejected here: the rules dead-letter an empty list as ``no_hosts``."""
    n = parsed("end", lambda m: data(m).pop("hosts"))
    assert isinstance(n, End)
    assert n.hosts == ()


# --- every other field -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "canonical"),
    [
        ("2026-11-23 19:04:24.662740", "2026-11-23T19:04:24.662740Z"),
        ("2026-11-23T19:04:24.662740", "2026-11-23T19:04:24.662740Z"),
        ("2026-11-23T19:04:24.66274Z", "2026-11-23T19:04:24.662740Z"),
        ("2026-11-23 19:04:24.1+00:00", "2026-11-23T19:04:24.100000Z"),
        ("2026-11-23 01:04:24-05:30", "2026-11-23T06:34:24.000000Z"),
        ("2026-12-31 23:30:00-01:00", "2027-01-01T00:30:00.000000Z"),
    ],
)
def test_accepted_timestamps_become_canonical_utc(stamp: str, canonical: str) -> None:
    assert nova_time(stamp) == canonical


@pytest.mark.parametrize(
    "stamp",
    [
        None,
        1764000000,
        "",
        "yesterday",
        "2026-11-23",
        "20261123T190424",
        "2026-11-23 19:04",
        "2026-11-23 19:04:24.6627401",  # nanoseconds: would be silently cut
        "2026-11-23 25:04:24",
        "2026-11-23 23:59:60",
        "2026-11-23 19:04:24+24:00",
        "2026-11-23 19:04:24+0500",
        "2026-11-23 19:04:24 UTC",
        "٢٠٢٦-11-23 19:04:24",  # digits, but not ASCII ones
        "0001-01-01 00:00:00+05:00",  # before year 1 in UTC
        "9999-12-31 23:59:59-01:00",  # after year 9999 in UTC
    ],
)
def test_timestamps_that_are_not_real_times_are_dead_lettered(stamp: Any) -> None:
    with pytest.raises(MalformedNotification) as info:
        nova_time(stamp)
    assert info.value.reason == "bad_timestamp"


@pytest.mark.parametrize(
    "host", ["", "a" * 256, "evil\x1b[2J", "tab\there", "rtl\u202eoverride", "zero\u200bwidth", 5]
)
def test_a_progress_host_must_be_short_printable_text(host: Any) -> None:
    assert rejected("progress", set_data(host=host)) == "bad_host"


def test_a_long_printable_host_is_accepted() -> None:
    n = parsed("progress", set_data(host="h" * 255))
    assert isinstance(n, Progress)
    assert n.host == "h" * 255


@pytest.mark.parametrize("hosts", [None, "guaranine1", {"a": 1}, ["ok", 7], ["ok", ""], ["\x07"]])
def test_a_start_host_list_must_be_a_list_of_hosts(hosts: Any) -> None:
    assert rejected("start", set_data(hosts=hosts)) == "bad_hosts"


def test_a_start_with_more_than_max_hosts_is_dead_lettered() -> None:
    hosts = [f"h{i}" for i in range(MAX_HOSTS + 1)]
    assert rejected("start", set_data(hosts=hosts)) == "bad_hosts"


def test_an_empty_start_list_is_parsed_for_the_rules_to_judge() -> None:
    n = parsed("start", set_data(hosts=[]))
    assert isinstance(n, Start)
    assert n.hosts == ()


@pytest.mark.parametrize(
    "fields",
    [
        {"images_cached": "img"},
        {"images_cached": None},
        {"images_failed": [1]},
        {"images_failed": [""]},
        {"images_failed": ["x" * 256]},
        {"images_failed": ["\x1b]0;title\x07"]},
        {"images_cached": ["a", "a"]},
        {"images_cached": ["a"], "images_failed": ["a"]},
        {"images_cached": [f"i{n}" for n in range(1001)]},
    ],
)
def test_image_lists_are_bounded_distinct_printable_and_disjoint(fields: dict[str, Any]) -> None:
    assert rejected("progress", set_data(**fields)) == "bad_images"


@pytest.mark.parametrize("index", [None, 0, -3, 10**30, True, 2.0, "1", MAX_HOSTS + 1])
def test_an_unusable_index_is_dropped_never_rejected(index: Any) -> None:
    n = parsed("progress", set_data(index=index))
    assert isinstance(n, Progress)
    assert n.index is None


@pytest.mark.parametrize("field", ["_context_request_id", "_context_global_request_id"])
@pytest.mark.parametrize("value", [5, True, ["req"], "r" * 256, "req-\x1b[0m", "req\n"])
def test_request_ids_are_printable_text(field: str, value: Any) -> None:
    assert rejected("progress", lambda m: m.update({field: value})) == "bad_request_id"


def test_the_global_request_id_is_carried() -> None:
    n = parsed("progress", set_top(_context_global_request_id="req-global-1"))
    assert n.global_request_id == "req-global-1"
    assert n.request_id == "req-509aa5f0-f5e4-4be8-b78f-5d0dbfe2681d"


@pytest.mark.parametrize("value", [None, ""])
def test_no_request_id_is_none(value: str | None) -> None:
    n = parsed("progress", set_top(_context_request_id=value, _context_global_request_id=value))
    assert (n.request_id, n.global_request_id) == (None, None)


@pytest.mark.parametrize("region", ["", "r" * 256, "eu\x1bwest", "eu/west", "caf\udcc3"])
def test_a_bad_region_header_is_dead_lettered(region: str) -> None:
    assert rejected("progress", lambda m: None, {"region": region}) == "bad_region"


def test_a_region_header_that_is_not_utf8_is_dead_lettered() -> None:
    headers = header_map([("region", b"caf\xc3"), ("event_type", b"aggregate.cache_images.end")])
    assert rejected("end", lambda m: None, headers) == "bad_region"


def test_an_event_type_header_that_is_not_utf8_does_not_hide_the_record() -> None:
    headers = header_map([("region", b"region-a"), ("event_type", b"\xff")])
    assert isinstance(parsed("progress", lambda m: None, headers), Progress)


def test_no_region_header_is_the_unknown_region() -> None:
    assert parsed("progress", lambda m: None, {}).region == "unknown"


@pytest.mark.parametrize(
    "fields",
    [
        {"uuid": None},
        {"uuid": ""},
        {"uuid": 7},
        {"uuid": "u" * 256},
        {"uuid": "a/b"},
        {"uuid": "fd2b\x1b"},
        {"name": 7},
        {"name": "n" * 256},
        {"name": "my-\x1b[5mapp"},
    ],
)
def test_the_aggregate_is_checked(fields: dict[str, Any]) -> None:
    assert rejected("progress", set_data(**fields)) == "bad_aggregate"


def test_an_empty_aggregate_name_is_no_name() -> None:
    assert parsed("progress", set_data(name="")).aggregate.name is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "not_json"),
        (b"{nope", "not_json"),
        (b'{"a": 1' + b"0" * 400 + b"}", "not_json"),  # orjson: infinite as a double
        (b"[1]", "not_object"),
        (b'"aggregate.cache_images.start"', "not_object"),
        (b'{"event_type": "aggregate.cache_images.progress"}', "bad_payload"),
        (b'{"event_type": "aggregate.cache_images.progress", "payload": []}', "bad_payload"),
        (
            b'{"event_type": "aggregate.cache_images.progress",'
            b' "payload": {"nova_object.data": 1}}',
            "bad_payload",
        ),
        (b'{"event_type": "aggregate.cache_images.middle", "payload": {}}', "unknown_event"),
    ],
)
def test_records_that_are_not_notifications(value: bytes, reason: str) -> None:
    with pytest.raises(MalformedNotification) as info:
        parse(value, {"event_type": "aggregate.cache_images.progress"})
    assert info.value.reason == reason


def test_a_detail_never_carries_a_huge_value() -> None:
    m = copy.deepcopy(message("progress"))
    data(m)["host"] = "x" * 1_000_000
    with pytest.raises(MalformedNotification) as info:
        parse(encode(m), HEADERS)
    assert len(str(info.value)) < 200


def test_a_bad_message_id_is_dropped() -> None:
    """Carried for logs only: never a reason to lose the notification."""
    assert parsed("progress", set_top(message_id=["x"])).message_id is None
    assert parsed("progress", set_top(message_id="m\x1b")).message_id is None


def test_the_real_stream_keeps_every_value() -> None:
    stream = [parse(encode(m), HEADERS) for m in conductor_messages()]
    start = stream[0]
    assert isinstance(start, Start)
    assert start.aggregate.id == 2
    assert start.global_request_id is None
    assert len(start.hosts) == 12
    assert all(isinstance(n, Progress) and n.index is not None for n in stream[1:-1])


def test_reference_times_near_the_epoch_and_far_future() -> None:
    assert nova_time("1970-01-01 00:00:00") == "1970-01-01T00:00:00.000000Z"
    moment = datetime(9999, 12, 31, 18, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert nova_time(moment.isoformat(sep=" ")) == "9999-12-31T23:00:00.000000Z"
    assert datetime.fromisoformat(nova_time("2026-11-23 19:04:24")).tzinfo == UTC
