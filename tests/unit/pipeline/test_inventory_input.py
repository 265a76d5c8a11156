"""Nova's instance and aggregate notifications -> inventory inputs, checked at the edge; the
raw consumer's skip filter lets exactly these (and cache_images) through."""

import copy
from typing import Any

import orjson
import pytest

from precache.pipeline import inventory_input
from precache.pipeline.inventory import Membership, Touch
from precache.pipeline.notifications import (
    Aggregate,
    MalformedNotification,
    Progress,
    Start,
    skippable,
)
from tests.support.nova_samples import documented_samples

STAMP = "2026-11-23 19:04:24.662740"
AT = "2026-11-23T19:04:24.662740Z"


def instance(event_type: str = "instance.create.end", **data: Any) -> dict[str, Any]:
    fields = {"uuid": "inst-1", "host": "compute-7", "image_uuid": "img-1", **data}
    return {
        "event_type": event_type,
        "publisher_id": "nova-compute:compute-7",
        "timestamp": STAMP,
        "_context_request_id": "req-1",
        "payload": {"nova_object.name": "InstanceCreatePayload", "nova_object.data": fields},
    }


def aggregate(event_type: str, hosts: list[str]) -> dict[str, Any]:
    """Nova's AggregatePayload sample with ``hosts`` (the membership after the change)."""
    start = copy.deepcopy(documented_samples()[0])
    start["event_type"] = event_type
    start["payload"]["nova_object.data"]["hosts"] = hosts
    return start


def parse(message: dict[str, Any], region: str = "r1") -> list[Any] | None:
    headers = {"event_type": message["event_type"], "region": region}
    return inventory_input.parse_other(orjson.dumps(message), headers)


def test_a_spawn_or_rebuild_touches_its_image_on_its_host():
    for kind in ("instance.create.end", "instance.rebuild.end"):
        (touch,) = parse(instance(kind))  # type: ignore[misc]
        assert touch == Touch("r1", "compute-7", "img-1", "cached", AT, None, "req-1", kind)


@pytest.mark.parametrize("data", [{"image_uuid": ""}, {"image_uuid": None}, {"host": None}])
def test_no_image_or_no_host_is_nothing_to_record(data):
    assert parse(instance(**data)) == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"host": 7}, "bad_host"),
        ({"host": "a\x1b[2J"}, "bad_host"),
        ({"image_uuid": ["x"]}, "bad_images"),
    ],
)
def test_a_bad_instance_field_is_a_reason(data, reason):
    with pytest.raises(MalformedNotification) as caught:
        parse(instance(**data))
    assert caught.value.reason == reason


def test_aggregate_events_give_the_whole_membership():
    (m,) = parse(aggregate("aggregate.add_host.end", ["c1", "c2"]))  # type: ignore[misc]
    assert m == Membership(
        "r1", "788608ec-ebdc-45c5-bc7f-e5f24ab92c80", "my-aggregate", ("c1", "c2"), AT,
        False, "aggregate.add_host.end",
    )  # fmt: skip
    (gone,) = parse(aggregate("aggregate.delete.end", []))  # type: ignore[misc]
    assert gone.deleted
    assert gone.hosts == ()
    with pytest.raises(MalformedNotification) as caught:
        parse(aggregate("aggregate.remove_host.end", ["c1", "c1"]))
    assert caught.value.reason == "duplicate_host"


def test_other_notifications_are_not_inventory_input():
    assert parse(instance("instance.update")) is None
    assert parse(aggregate("aggregate.add_host.start", ["c1"])) is None


@pytest.mark.parametrize("event_type", [["instance.create.end"], {"a": 1}, 5, None])
def test_an_event_type_that_is_not_text_is_not_inventory_input(event_type):
    """A record without the event_type header (not written by the bridge, which dead-letters
    these) whose body's event_type is not a string: not ours, as for the cache_images parser;
    a list or an object used to raise TypeError, dead-lettered as ``apply_error`` (a bug)."""
    body = orjson.dumps({**instance(), "event_type": event_type})
    assert inventory_input.parse_other(body, {}) is None


def test_progress_touches_carry_the_operation_it_was_paired_with():
    agg = Aggregate("agg", "a", 1)
    common: dict[str, Any] = {
        "region": "r1", "request_id": "req-9", "aggregate": agg, "timestamp": AT,
        "message_id": None,
    }  # fmt: skip
    progress = Progress(
        kind="progress", host="c1", total=2, index=1, images_cached=("i1",),
        images_failed=("i2",), **common,
    )  # fmt: skip
    cached, failed = inventory_input.from_cache_images(progress, "r1/agg/req-9")
    assert cached == Touch("r1", "c1", "i1", "cached", AT, "r1/agg/req-9", "req-9")
    assert (failed.state, failed.reason) == ("failed", "reported_failed")  # type: ignore[union-attr]
    start = Start(kind="start", hosts=("c1", "c2"), **common)
    (m,) = inventory_input.from_cache_images(start, "r1/agg/req-9")
    assert m.hosts == ("c1", "c2")  # type: ignore[union-attr]


def test_internal_records_round_trip():
    items: list[Touch | Membership] = [
        Touch("r1", "c1", "i1", "failed", AT, "op", "req", reason="reported_failed"),
        Membership("r1", "agg", None, ("c1",), AT, True, "aggregate.delete.end"),
    ]
    decoded = [d for _, v, _ in inventory_input.encode(items) for d in inventory_input.decode(v)]
    assert sorted(decoded, key=repr) == sorted(items, key=repr)
    for bad in (
        b'{"t": "touches"}',
        b"[]",
        b"x",
        b'{"t": "touches", "region": "r", '
        b'"image": "i", "items": [["h", "gone", "t", null, null, "s", null]]}',
    ):
        with pytest.raises(inventory_input.BadInput):
            inventory_input.decode(bad)


def test_touches_are_grouped_per_region_and_image():
    touches = [Touch("r1", f"h{n}", f"i{n % 2}", "cached", AT) for n in range(2500)]
    records = inventory_input.encode(list(touches))
    keys = [k for k, _, _ in records]
    assert sorted(keys) == [b"r1/i0"] * 2 + [b"r1/i1"] * 2  # at most 1000 touches a record
    decoded = [d for _, v, _ in records for d in inventory_input.decode(v)]
    assert sorted(decoded, key=repr) == sorted(touches, key=repr)


@pytest.mark.parametrize("event_type", sorted(inventory_input.EVENT_TYPES))
def test_the_skip_filter_lets_inventory_types_through(event_type):
    assert not skippable([("event_type", event_type.encode())])
    assert skippable([("event_type", b"instance.update")])


def test_memberships_of_a_batch_share_records_that_go_to_every_partition():
    memberships = [
        Membership("r1", f"agg-{n}", f"a{n}", tuple(f"h{n}-{i}" for i in range(30)), AT)
        for n in range(2000)
    ]
    big = Membership("r1", "big", None, tuple(f"host-{i:06d}" for i in range(30_000)), AT)
    items: list[Touch | Membership] = [*memberships[:1000], big, *memberships[1000:]]
    records = inventory_input.encode(items)
    assert all(everywhere for _, _, everywhere in records)
    sizes = [len(v) for _, v, _ in records]
    assert len(records) < 10  # not 2,001
    assert max(s for s in sizes if s < 400_000) <= inventory_input.MEMBERSHIP_RECORD_BYTES
    assert [s > inventory_input.MEMBERSHIP_RECORD_BYTES for s in sizes].count(True) == 1
    decoded = [d for _, v, _ in records for d in inventory_input.decode(v)]
    assert decoded == items  # in order


def test_a_membership_record_of_one_membership_still_decodes():
    """The format of records written before memberships were packed (an upgrade mid-stream)."""
    old = (
        b'{"t":"membership","region":"r1","uuid":"agg","name":"web","hosts":["c1","c2"],'
        b'"at":"2026-12-01T10:00:00.000000Z","deleted":false,"src":"aggregate.add_host.end"}'
    )
    (m,) = inventory_input.decode(old)
    assert m == Membership(
        "r1", "agg", "web", ("c1", "c2"), "2026-12-01T10:00:00.000000Z", False,
        "aggregate.add_host.end",
    )  # fmt: skip
    with pytest.raises(inventory_input.BadInput):
        inventory_input.decode(b'{"t":"memberships","items":[{"region":"r1"}]}')


@pytest.mark.parametrize("hosts", ["", 0, False, {}])
def test_hosts_that_are_not_a_list_are_bad_even_when_falsy(hosts):
    """``hosts or []`` took an empty string, 0, false or {} for an empty membership: a malformed
    payload emptied the aggregate (found by the fuzz). Nova's ``hosts`` is a nullable list."""
    with pytest.raises(MalformedNotification) as caught:
        parse(aggregate("aggregate.update_metadata.end", hosts))
    assert caught.value.reason == "bad_hosts"


def test_null_or_absent_hosts_is_an_empty_membership():
    (m,) = parse(aggregate("aggregate.create.end", None))  # type: ignore[arg-type,misc]
    assert m.hosts == ()
    message = aggregate("aggregate.create.end", [])
    del message["payload"]["nova_object.data"]["hosts"]
    (m,) = parse(message)  # type: ignore[misc]
    assert m.hosts == ()
