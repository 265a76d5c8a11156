"""Parsing raw records: the real Nova stream, unused types skipped cheaply, malformed ones named."""

import orjson
import pytest

from precache.pipeline.notifications import End, MalformedNotification, Progress, Start, parse
from tests.support.nova_samples import conductor_envelopes


def nova_stream() -> list[bytes]:
    """The committed 12-host conductor stream's inner messages, as the bridge forwards them."""
    return [e["oslo.message"].encode() for e in conductor_envelopes()]


def headers(event_type: str | None = None) -> dict[str, str]:
    h = {"region": "region-a"}
    if event_type:
        h["event_type"] = event_type
    return h


def test_the_real_conductor_stream_parses():
    parsed = [parse(v, headers()) for v in nova_stream()]
    assert isinstance(parsed[0], Start)
    assert isinstance(parsed[-1], End)
    progress = [p for p in parsed if isinstance(p, Progress)]
    assert len(progress) == 12
    assert len({p.host for p in progress}) == 12
    assert {p.total for p in progress} == {12}
    first = progress[0]
    assert first.host == "guaranine5"
    assert first.images_failed == ("c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2",)
    assert first.request_id == "req-509aa5f0-f5e4-4be8-b78f-5d0dbfe2681d"
    assert first.aggregate.name == "my-application"
    assert parsed[0].timestamp == "2026-11-23T19:04:24.662740Z"
    assert parsed[0].hosts[-1] == "guaranine12"


def test_unused_event_types_are_skipped_from_the_header_alone():
    assert parse(b"not even json", headers("compute.instance.create.end")) is None


def test_unused_event_type_in_the_body_is_skipped():
    value = orjson.dumps({"event_type": "aggregate.create.end", "payload": {}})
    assert parse(value, headers()) is None


@pytest.mark.parametrize(
    ("value", "code", "detail"),
    [
        (b"{nope", "not_json", "not JSON"),
        (b"[1]", "not_object", "not a JSON object"),
        (
            orjson.dumps({"event_type": "aggregate.cache_images.progress"}),
            "bad_payload",
            "nova_object.data",
        ),
        (
            orjson.dumps(
                {
                    "event_type": "aggregate.cache_images.progress",
                    "timestamp": "2026-11-23 19:04:24.1",
                    "payload": {"nova_object.data": {"uuid": "u", "host": "h", "total": 0}},
                }
            ),
            "bad_total",
            "bad progress total 0",
        ),
        (
            orjson.dumps(
                {
                    "event_type": "aggregate.cache_images.start",
                    "timestamp": "yesterday",
                    "payload": {"nova_object.data": {"uuid": "u", "hosts": []}},
                }
            ),
            "bad_timestamp",
            "bad timestamp 'yesterday'",
        ),
    ],
)
def test_malformed_records_say_why(value: bytes, code: str, detail: str):
    with pytest.raises(MalformedNotification, match=detail) as info:
        parse(value, headers("aggregate.cache_images.progress"))
    assert info.value.reason == code
