import json

import orjson
import pytest

from precache.bridge.decode import DecodeError, Notification, Reason, decode
from tests.support.nova_samples import conductor_envelopes

LIMIT = 100_000


def _envelope(message: object) -> bytes:
    return orjson.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


def test_envelope_is_unwrapped_whole() -> None:
    inner = {"message_id": "m1", "event_type": "aggregate.cache_images.start", "payload": {}}
    decoded = decode(_envelope(inner), LIMIT)
    assert isinstance(decoded, Notification)
    assert decoded.message == inner
    assert decoded.text == json.dumps(inner)  # the inner text as received, not re-encoded


def test_legacy_unenveloped_body_is_the_notification() -> None:
    body = {"message_id": "m1", "event_type": "compute.instance.create.end", "payload": {}}
    decoded = decode(orjson.dumps(body), LIMIT)
    assert isinstance(decoded, Notification)
    assert decoded.message == body
    assert decoded.text == orjson.dumps(body)


def test_every_envelope_of_the_nova_fixture_decodes() -> None:
    envelopes = conductor_envelopes()
    assert len(envelopes) == 14  # the committed fixture: start, 12 progress, end
    for envelope in envelopes:
        decoded = decode(orjson.dumps(envelope), LIMIT)
        assert isinstance(decoded, Notification)
        assert decoded.message == json.loads(envelope["oslo.message"])
        assert decoded.text == envelope["oslo.message"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe not utf-8", Reason.NOT_UTF8),
        (b"{not json", Reason.NOT_JSON),
        (b"", Reason.NOT_JSON),
        (b"[1, 2]", Reason.NOT_ENVELOPE),
        (b'"a string"', Reason.NOT_ENVELOPE),
        (b'{"hello": "world"}', Reason.NOT_ENVELOPE),
        (b'{"oslo.version": "2.0", "oslo.message": 5}', Reason.NOT_ENVELOPE),
        (b'{"oslo.version": "2.0", "oslo.message": "{broken"}', Reason.NOT_ENVELOPE),
        (b'{"oslo.version": "2.0", "oslo.message": "[]"}', Reason.NOT_ENVELOPE),
        (_envelope({"message_id": "m1", "payload": {}}), Reason.NO_EVENT_TYPE),
        (_envelope({"message_id": "m1", "event_type": 7}), Reason.NO_EVENT_TYPE),
        (b'{"publisher_id": "nova-compute:h1", "payload": {}}', Reason.NO_EVENT_TYPE),
        (b'{"event_type": "x", "pad": "' + b"a" * LIMIT + b'"}', Reason.TOO_LARGE),
    ],
)
def test_bad_bodies_name_their_reason(body: bytes, reason: Reason) -> None:
    result = decode(body, LIMIT)
    assert isinstance(result, DecodeError)
    assert result.reason is reason
    assert result.detail


def test_numbers_orjson_cannot_hold_are_parsed_by_the_stdlib() -> None:
    inner = '{"event_type": "x", "n": 1e400, "id": 1000000000000000000000000000000}'
    decoded = decode(orjson.dumps({"oslo.version": "2.0", "oslo.message": inner}), LIMIT)
    assert isinstance(decoded, Notification)
    assert decoded.message["id"] == 10**30
    assert decoded.text == inner


def test_nan_is_not_json() -> None:
    inner = '{"event_type": "x", "n": NaN}'
    decoded = decode(orjson.dumps({"oslo.version": "2.0", "oslo.message": inner}), LIMIT)
    assert isinstance(decoded, DecodeError)
    assert decoded.reason is Reason.NOT_ENVELOPE
