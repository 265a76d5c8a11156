"""``inventory_events.encode`` writes the ``precache.image.cache`` event without the contract's
model: on any entry it must give the bytes the model gives (or fail as the model fails), and
the fields it writes must be the model's. ``view``'s forecast must be the text the old
``write_time(parse_time(...) + ...)`` gave, or the end of time where that overflowed."""

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from precache.contract import ImageCacheData, ImageCacheEvent
from precache.contract.kafka_binding import record_key
from precache.pipeline import inventory_events
from precache.pipeline.inventory import (
    REPORTED_FAILED,
    Entry,
    Expiry,
    Policy,
    Touch,
    forecast,
    merge,
    parse_time,
    view,
    write_time,
)
from tests.support.schemas import schema_validator

ROOT = Path(__file__).resolve().parents[3]
EXPIRIES = [
    Expiry(86_400, 2_400),
    Expiry(86_400, -1),  # never removed: no forecast
    Expiry(60, 0),  # Nova's 60 s pass
    Expiry(0, 1),
    Expiry(0.5, 0.25),  # fractions of a second
    Expiry(10 * 365 * 86_400, 86_400),
]
POLICIES = st.builds(
    Policy,
    st.sampled_from(EXPIRIES),
    st.dictionaries(st.sampled_from(["r1", "r2", "never"]), st.sampled_from(EXPIRIES)),
)
# the worker's own times (canonical, any instant datetime can hold, the edges included) ...
CANONICAL_TIMES = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 30), datetime(2026, 12, 31, 23, 59)]),
).map(lambda at: at.isoformat(timespec="microseconds") + "Z")
# ... and text the contract's pattern or Python's parser treats differently
ODD_TIMES = st.sampled_from(
    [
        "2026-12-01T10:00:00Z",  # no fraction
        "2026-12-01T10:00:00.5Z",
        "2026-12-01T10:00:00.123Z",
        "2026-12-01T10:00:00.123456+00:00",  # not the contract's Z
        "2026-12-01T12:00:00.123456+02:00",
        "2026-12-01T12:00:00.123456+02:00Z",
        "2026-12-01T10:00:00.123456z",
        "2026-12-01 10:00:00.123456Z",  # Python parses it, the contract's pattern does not
        "2026-12-01T10:00:00.123456Z\n",
        "2026-12-01T10:00:00.123456ZZ",
        "9999-12-31T23:59:59.999999Z",  # its forecast overflows
        "2026-13-01T10:00:00.000000Z",
        "tomorrow",
        "",
    ]
)


def mostly(good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good``, and one time in ten ``odd``: most entries are ones the model accepts (so that
    the comparison covers written bytes, not only errors), every field may be wrong alone."""
    return st.integers(0, 9).flatmap(lambda i: odd if i == 0 else good)


PLAIN_NAMES = st.one_of(
    st.sampled_from(["r1", "r2", "never", "compute-0001", "3f1c2b8e-1111-2222-3333-444455556666"]),
    st.text(min_size=1, max_size=12),  # unicode, control characters, quotes, backslashes
)
ODD_NAMES = st.one_of(
    st.just(""),
    st.sampled_from(["\n", "\nr1", "r1\n", "\t"]),  # the envelope's source: /precache/.+
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
    st.sampled_from([7, None, ["h1"]]),  # not text
)
NOT_TEXT = st.sampled_from([7, 1.5, True, ["x"]])


@st.composite
def marks(
    draw: st.DrawFn, times: st.SearchStrategy[str], texts: st.SearchStrategy[Any]
) -> dict[str, Any]:
    optional = st.one_of(st.none(), texts)
    mark = {
        "at": draw(times),
        "op": draw(optional),
        "req": draw(optional),
        "src": draw(st.one_of(st.just("aggregate.cache_images.progress"), texts)),
        "reason": draw(st.one_of(st.just(REPORTED_FAILED), optional)),
    }
    if draw(st.integers(0, 9)) == 0:
        del mark[draw(st.sampled_from(["op", "req", "src", "reason"]))]  # as an older worker
    return mark


@st.composite
def entries(
    draw: st.DrawFn,
    names: st.SearchStrategy[Any],
    times: st.SearchStrategy[str],
    texts: st.SearchStrategy[Any],
) -> Entry:
    """An entry in any state: cached, failed, or both marks (either newer)."""
    cached, failed = draw(
        st.sampled_from([(True, False), (False, True), (True, True)])
    )  # merge() never leaves an entry with neither
    return {
        "region": draw(names),
        "host": draw(names),
        "image": draw(names),
        "cached": draw(marks(times, texts)) if cached else None,
        "failed": draw(marks(times, texts)) if failed else None,
    }


ANY_ENTRY = entries(
    mostly(PLAIN_NAMES, ODD_NAMES),
    mostly(CANONICAL_TIMES, ODD_TIMES),
    mostly(PLAIN_NAMES, st.one_of(ODD_NAMES, NOT_TEXT)),
)
# the worker's text: printable, as pipeline.notifications checks every name and id it takes
WORKER_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")), min_size=1
).filter(str.isprintable)
WORKER_ENTRY = entries(WORKER_TEXT, CANONICAL_TIMES, WORKER_TEXT)


def outcome(f: Any) -> tuple[str, Any]:
    try:
        return "ok", f()
    except Exception as exc:
        return "raises", type(exc)


def by_model(entry: Entry, policy: Policy) -> tuple[bytes, bytes]:
    """What ``encode`` gave when it went through the model (before it stopped doing so)."""
    event = inventory_events.build(entry, policy)
    return record_key(event), event.model_dump_json().encode()


def assert_as_the_model(entry: Entry, policy: Policy) -> None:
    fast, model = (
        outcome(lambda: inventory_events.encode(entry, policy)),
        outcome(lambda: by_model(entry, policy)),
    )
    event(f"{model[0]} {model[1] if model[0] == 'raises' else ''}")
    assert fast == model
    if fast[0] == "ok":
        key, value = fast[1]
        parsed = ImageCacheEvent.model_validate_json(value)
        assert parsed == inventory_events.build(entry, policy)
        assert key == parsed.partitionkey.encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_ENTRY, POLICIES)
def test_any_entry_encodes_as_the_model_writes_it_or_fails_as_it_fails(entry, policy):
    assert_as_the_model(entry, policy)


@settings(max_examples=200, deadline=None)
@given(WORKER_ENTRY, POLICIES)
def test_the_worker_s_entries_take_the_fast_path_and_keep_their_id(entry, policy):
    """Entries as the worker stores them (canonical times, text, a source) must not fall back
    to the model, or the speed is gone; their id is uuid5 of the same name as ever."""
    for mark in (entry["cached"], entry["failed"]):
        if mark is not None and mark.get("src") is None:
            mark["src"] = "aggregate.cache_images.progress"  # every touch has one
    assert_as_the_model(entry, policy)
    assert inventory_events._plain(view(entry, policy))
    _, value = inventory_events.encode(entry, policy)
    marks = "|".join(
        f"{m['at']}/{m.get('op')}/{m.get('src')}" if m else "-"
        for m in (entry["cached"], entry["failed"])
    )
    name = f"{entry['region']}/{entry['host']}/{entry['image']}|{marks}"
    assert orjson.loads(value)["id"] == str(uuid.uuid5(inventory_events.NAMESPACE, name))


@settings(deadline=None)
@given(st.text(max_size=40))
def test_the_event_id_is_uuid5(name):
    expected = str(uuid.uuid5(inventory_events.NAMESPACE, name))
    assert inventory_events.event_id(name) == expected


def test_the_encoder_writes_every_field_of_the_contract_and_no_other():
    """A field added to, removed from or renamed in ImageCacheEvent/ImageCacheData (and so in
    schemas/) that the hand-written encoder does not follow fails here, with the names."""
    entry = merge(None, Touch("r1", "h1", "i1", "cached", "2026-12-01T10:00:00.000000Z", "o", "q"))
    assert entry is not None
    _, value = inventory_events.encode(entry, Policy())
    written = orjson.loads(value)
    schema = json.loads((ROOT / "schemas" / "precache.image.cache.json").read_text())
    assert list(written) == list(ImageCacheEvent.model_fields)
    assert list(written["data"]) == list(ImageCacheData.model_fields)
    assert set(written) == set(schema["properties"])
    assert set(written["data"]) == set(schema["$defs"]["ImageCacheData"]["properties"])
    schema_validator("precache.image.cache").validate(written)


def test_an_entry_the_model_refuses_is_refused_not_written():
    entry = merge(None, Touch("r1", "h1", "i1", "cached", "2026-12-01T10:00:00.000000Z"))
    assert entry is not None
    entry["cached"]["src"] = None  # source is required text
    with pytest.raises(ValueError, match="source"):
        inventory_events.encode(entry, Policy())
    entry = {**entry, "host": ""}
    with pytest.raises(ValueError, match="host"):
        inventory_events.encode(entry, Policy())


def old_forecast(cached_at: str, expiry: Expiry) -> tuple[str, str]:
    """view()'s forecast as it was written before ``forecast``."""
    expires = parse_time(cached_at) + timedelta(seconds=expiry.min_age_s)
    return write_time(expires), write_time(expires + timedelta(seconds=expiry.interval_s()))


END_OF_TIME = "9999-12-31T23:59:59.999999Z"


@settings(deadline=None)
@given(
    st.one_of(
        CANONICAL_TIMES,
        ODD_TIMES,
        st.datetimes(timezones=st.timezones()).map(lambda at: at.isoformat()),
    ),
    st.sampled_from([e for e in EXPIRIES if not e.never]),
)
def test_the_forecast_is_the_text_it_was_or_the_end_of_time(cached_at, expiry):
    new, old = (
        outcome(lambda: forecast(cached_at, expiry)),
        outcome(lambda: old_forecast(cached_at, expiry)),
    )
    if old == ("raises", OverflowError):
        if new == old and not cached_at.endswith("Z"):
            return  # an offset whose conversion to UTC is out of range: no UTC text at all
        assert new[0] == "ok", new
        expires, gone = new[1]
        assert gone == END_OF_TIME
        assert (
            expires == END_OF_TIME
            or write_time(parse_time(cached_at) + timedelta(seconds=expiry.min_age_s)) == expires
        )
    else:
        assert new == old


def test_the_forecast_of_a_whole_second():
    expires, gone = forecast("2026-12-01T10:00:00Z", Expiry(86_400, 2_400))
    assert (expires, gone) == ("2026-12-02T10:00:00.000000Z", "2026-12-02T10:40:00.000000Z")
    assert parse_time(gone) == datetime(2026, 12, 2, 10, 40, tzinfo=UTC)


def test_a_copy_cached_in_year_9999_expires_at_the_end_of_time_instead_of_stopping_the_agent():
    """Nova's timestamp is taken as it comes (``instance.create.end`` of 9999-12-31 is a valid
    notification); its forecast overflowed ``datetime``, the encoder raised OverflowError and
    the inventory agent stopped (exit 70) on every redelivery of the batch."""
    touch = Touch("r1", "h1", "i1", "cached", "9999-12-31T00:00:00.000000Z", None, "req")
    entry = merge(None, touch)
    assert entry is not None
    _, value = inventory_events.encode(entry, Policy())
    data = ImageCacheEvent.model_validate_json(value).data
    assert (data.expires_at, data.gone_by) == (END_OF_TIME, END_OF_TIME)
    entry = merge(None, dataclasses.replace(touch, at="9999-12-30T23:30:00.000000Z"))
    assert entry is not None
    data = inventory_events.build(entry, Policy()).data
    assert (data.expires_at, data.gone_by) == ("9999-12-31T23:30:00.000000Z", END_OF_TIME)
