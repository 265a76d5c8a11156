from precache.bridge.keys import partition_key


def _versioned(event_type: str, data: object) -> dict[str, object]:
    return {
        "event_type": event_type,
        "publisher_id": "nova-conductor:c1",
        "payload": {"nova_object.name": "X", "nova_object.data": data},
    }


def test_aggregate_events_are_keyed_by_aggregate_uuid() -> None:
    data = {"uuid": "agg-uuid", "host": "h1", "index": 1, "total": 2}
    assert partition_key(_versioned("aggregate.cache_images.progress", data)) == "agg-uuid"


def test_other_events_are_keyed_by_their_object_uuid() -> None:
    assert partition_key(_versioned("instance.create.end", {"uuid": "inst-1"})) == "inst-1"
    legacy = {"event_type": "compute.instance.exists", "payload": {"instance_id": "inst-2"}}
    assert partition_key(legacy) == "inst-2"


def test_without_object_uuid_the_publisher_is_the_key() -> None:
    assert partition_key(_versioned("service.update", {"host": "h1"})) == "nova-conductor:c1"
    assert partition_key({"event_type": "x", "payload": "text"}) is None
