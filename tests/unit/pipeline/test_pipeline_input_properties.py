"""Properties of the pipeline's edge: any mutation of a real notification is accepted within
bounds, skipped, or rejected with a reason code, never anything else; canonical time text
sorts as time does."""

import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from precache.pipeline.notifications import (
    MAX_AGGREGATE_ID,
    MAX_HOSTS,
    MAX_IMAGES,
    End,
    MalformedNotification,
    Notification,
    Progress,
    Start,
    nova_time,
    parse,
)
from tests.support.nova_samples import all_messages

REASONS = {
    "not_json",
    "not_object",
    "bad_payload",
    "bad_aggregate",
    "bad_timestamp",
    "bad_request_id",
    "bad_region",
    "bad_host",
    "bad_hosts",
    "duplicate_host",
    "bad_total",
    "bad_images",
    "unknown_event",
}
CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
BASES = all_messages()
FIELDS = [
    "host",
    "hosts",
    "total",
    "index",
    "uuid",
    "id",
    "name",
    "images_cached",
    "images_failed",
    "timestamp",
    "event_type",
    "message_id",
    "_context_request_id",
    "_context_global_request_id",
    "payload",
    "nova_object.data",
]
NASTY_TEXT = [
    "",
    " ",
    "guaranine5",
    "guaranine1",
    "\x1b[2J\x1b]0;owned\x07",
    "rtl\u202e",
    "nul\x00",
    "a/b",
    "x" * 255,
    "x" * 256,
    "9" * 5000,
    "2026-02-30 10:00:00",
    "2026-11-23 19:04:24+05:00",
    "2026-11-23 19:04:24.662740garbage",
    "2026-11-23T19:04:24Z",
    "aggregate.cache_images.progress",
    "aggregate.cache_images.start",
    "aggregate.cache_images.bogus",
    "c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2",
]
NASTY_NUMBERS = [0, 1, -1, 12, MAX_HOSTS, MAX_HOSTS + 1, 10**12, 2**63 - 1, 2**63, 2**64, 10**30]
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(NASTY_NUMBERS),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=12),
)
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "region": st.sampled_from(["region-a", *NASTY_TEXT]) | st.text(max_size=8),
        "event_type": st.sampled_from(
            ["aggregate.cache_images.progress", "aggregate.cache_images.start", "compute.x"]
        ),
    },
)


def slots(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON tree, the root's items included."""
    out: list[tuple[Any, Any]] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.append((tree, key))
            out += slots(value)
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out.append((tree, i))
            out += slots(value)
    return out


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    message = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        container, key = draw(st.sampled_from(slots(message)))
        op = draw(st.sampled_from(["replace", "delete", "add", "duplicate"]))
        if op == "replace":
            container[key] = draw(json_values)
        elif op == "delete":
            del container[key]
        elif op == "add" and isinstance(container, dict):
            container[draw(st.sampled_from(FIELDS))] = draw(json_values)
        elif op == "duplicate" and isinstance(container, list):
            container.append(container[key])
    value = json.dumps(message).encode()
    if draw(st.sampled_from([False] * 9 + [True])):  # now and then a broken body
        value = value[: draw(st.integers(0, len(value)))]
    return value, draw(headers)


def text_ok(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= 255 and value.isprintable()


def check_bounds(n: Notification) -> None:
    assert CANONICAL.fullmatch(n.timestamp)
    assert datetime.fromisoformat(n.timestamp).tzinfo == UTC
    assert text_ok(n.region)
    assert "/" not in n.region
    for rid in (n.request_id, n.global_request_id, n.message_id):
        assert rid is None or text_ok(rid)
    agg = n.aggregate
    assert text_ok(agg.uuid)
    assert "/" not in agg.uuid
    assert agg.name is None or text_ok(agg.name)
    assert agg.id is None or (type(agg.id) is int and 0 <= agg.id <= MAX_AGGREGATE_ID)
    if isinstance(n, Start | End):
        assert isinstance(n.hosts, tuple)
        assert len(n.hosts) <= MAX_HOSTS
        assert all(text_ok(h) for h in n.hosts)
        assert len(set(n.hosts)) == len(n.hosts)
    else:
        assert isinstance(n, Progress)
        assert text_ok(n.host)
        assert type(n.total) is int
        assert 1 <= n.total <= MAX_HOSTS
        assert n.index is None or (type(n.index) is int and 1 <= n.index <= MAX_HOSTS)
        for images in (n.images_cached, n.images_failed):
            assert isinstance(images, tuple)
            assert len(images) <= MAX_IMAGES
            assert all(text_ok(i) for i in images)
            assert len(set(images)) == len(images)
        assert not set(n.images_cached) & set(n.images_failed)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_any_mutation_is_accepted_within_bounds_skipped_or_rejected_with_a_reason(
    record: tuple[bytes, dict[str, str]],
) -> None:
    value, hdrs = record
    try:
        n = parse(value, hdrs)
    except MalformedNotification as exc:
        rejected: MalformedNotification | None = exc
    else:
        rejected = None
    if rejected is not None:
        assert rejected.reason in REASONS
        assert 0 < len(str(rejected)) <= 1000
        event(rejected.reason)
        return
    event("skipped" if n is None else f"accepted {n.kind}")
    if n is not None:
        check_bounds(n)


def test_the_unmutated_samples_are_all_accepted() -> None:
    for m in BASES:
        n = parse(json.dumps(m).encode(), {"region": "region-a"})
        assert n is not None
        check_bounds(n)


offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets
)


@st.composite
def written(draw: st.DrawFn, moment: datetime) -> str:
    """One of the accepted spellings of ``moment``."""
    form = draw(st.sampled_from(["nova", "offset", "z"]))
    sep = draw(st.sampled_from([" ", "T"]))
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    if form == "nova":
        return utc.isoformat(sep=sep)
    if form == "z":
        return utc.isoformat(sep=sep) + "Z"
    return moment.isoformat(sep=sep)


@given(st.data(), moments, moments)
def test_canonical_text_order_is_time_order(data: st.DataObject, a: datetime, b: datetime) -> None:
    text_a, text_b = nova_time(data.draw(written(a))), nova_time(data.draw(written(b)))
    assert (text_a < text_b) == (a < b)
    assert (text_a == text_b) == (a == b)
    assert CANONICAL.fullmatch(text_a)
    assert datetime.fromisoformat(text_a) == a
