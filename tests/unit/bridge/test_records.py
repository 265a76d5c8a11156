import orjson

from precache.bridge.decode import Reason
from precache.bridge.records import Delivery, RecordBuilder
from precache.bridge.settings import BridgeSettings

NOW = b"2026-11-23T19:00:00+00:00"


def _body(inner: dict[str, object]) -> bytes:
    return orjson.dumps({"oslo.version": "2.0", "oslo.message": orjson.dumps(inner).decode()})


def test_record_follows_the_contract() -> None:
    settings = BridgeSettings(region="r1", bridge_id="b1")
    inner: dict[str, object] = {
        "message_id": "m1",
        "publisher_id": "nova-api:a",
        "event_type": "aggregate.cache_images.start",
        "payload": {"nova_object.data": {"uuid": "agg-1"}},
        "_context_auth_token": "secret",
        "_context_user": "admin",
    }
    record = RecordBuilder(settings).build(
        Delivery(1, _body(inner), "versioned_notifications.info"), NOW
    )
    assert record.topic == "nova.notifications"
    assert record.key == b"agg-1"
    assert record.reason is None
    expected = {k: v for k, v in inner.items() if k != "_context_auth_token"}
    assert orjson.loads(record.value) == expected
    assert dict(record.headers) == {
        "region": b"r1",
        "event_type": b"aggregate.cache_images.start",
        "message_id": b"m1",
        "source": b"b1",
        "received_at": NOW,
    }


def test_dead_letter_keeps_original_bytes_and_names_the_reason() -> None:
    settings = BridgeSettings(region="r1")
    body = b"\xff not json"
    record = RecordBuilder(settings).build(Delivery(1, body, "versioned_notifications.error"), NOW)
    assert record.topic == "nova.notifications.dlq"
    assert record.value == body
    assert record.reason == Reason.NOT_UTF8
    headers = dict(record.headers)
    assert headers["reason"] == b"not_utf8"
    assert headers["routing_key"] == b"versioned_notifications.error"
    assert headers["source"] == b"bridge-r1"
    assert headers["error"]


def test_legacy_routing_keys_go_to_the_legacy_topic_when_enabled() -> None:
    body = orjson.dumps({"event_type": "compute.instance.exists", "payload": {}})
    delivery = Delivery(1, body, "notifications.info")
    assert RecordBuilder(BridgeSettings(legacy=True)).build(delivery, NOW).topic == (
        "nova.notifications.legacy"
    )
