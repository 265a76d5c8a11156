"""Walkers that no input depth can stop, scrubbers no JSON shape can bypass (issue 19)."""

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from precache.bridge import jsontext
from precache.bridge.decode import DecodeError, Notification, Reason, decode
from precache.bridge.records import Delivery, RecordBuilder
from precache.bridge.scrub import SecretRule, mask_free_text
from precache.bridge.settings import DEFAULT_SECRET_FIELDS, BridgeSettings

RULE = SecretRule(DEFAULT_SECRET_FIELDS)
TOKEN = "gAAAAABpZ8example-keystone-fernet-token-0123456789abcdef"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans())
def test_the_walker_keeps_any_json_text_byte_for_byte(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert jsontext.remove_members(text, lambda p, k, v: False, lambda p, k: True) == text


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_dead_letters_never_raise_on_any_bytes(body: bytes) -> None:
    value, how = RULE.dead_letter(body)
    assert how in ("none", "fields", "masked", "cut")
    assert isinstance(value, bytes)


@pytest.mark.parametrize("depth", [498, 1000, 1024])
def test_deep_nesting_is_walked_without_recursion(depth: int) -> None:
    """498 brackets raised RecursionError in the dead letter's scrubbing: the bridge died."""
    text = "[" * depth + "]" * depth
    assert jsontext.remove_members(text, lambda p, k, v: False, lambda p, k: True) == text
    obj = '{"a":' * depth + "1" + "}" * depth
    assert RULE.dead_letter(obj.encode()) == (obj.encode(), "none")


def test_a_secret_under_deep_nesting_is_found_and_removed() -> None:
    deep = "[" * 900 + "]" * 900
    text = '{"x": ' + deep + ', "y": {"auth_token": "' + TOKEN + '"}}'
    out, how = RULE.dead_letter(text.encode())
    assert (out, how) == (('{"x": ' + deep + ', "y": {}}').encode(), "fields")


def test_a_removed_value_too_deep_for_the_c_scanner_is_skipped_iteratively() -> None:
    deep = "[" * 1020 + "]" * 1020  # deeper than the C scanner's recursion allows here
    text = '{"_context_service_catalog": ' + deep + ', "a": 1}'
    out = jsontext.remove_members(text, lambda p, k, v: k.startswith("_context"), lambda p, k: True)
    assert out == '{"a": 1}'


def test_nesting_beyond_the_limit_is_too_deep_never_a_recursion_error() -> None:
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(jsontext.TooDeep):
        jsontext.remove_members(text, lambda p, k, v: False, lambda p, k: True)
    with pytest.raises(jsontext.NotJson):
        jsontext.loads(text)
    assert RULE.dead_letter(text.encode()) == (text.encode(), "none")


def test_orjson_depth_limit_and_its_message_are_what_decode_expects() -> None:
    """Fence: decode() recognises orjson's depth error by its message (orjson 3.x: 1024)."""
    orjson.loads(b"[" * 1024 + b"]" * 1024)
    with pytest.raises(orjson.JSONDecodeError, match=r"^depth limit exceeded"):
        orjson.loads(b"[" * 1025 + b"]" * 1025)
    result = decode(b"[" * 1025 + b"]" * 1025, 10**7)
    assert isinstance(result, DecodeError)
    assert result.reason is Reason.TOO_DEEP
    inner = "[" * 5000 + "]" * 5000
    body = json.dumps({"oslo.version": "2.0", "oslo.message": inner}).encode()
    result = decode(body, 10**7)
    assert isinstance(result, DecodeError)
    assert result.reason is Reason.TOO_DEEP


@pytest.mark.parametrize(
    ("version", "ok"),
    [("2.0", True), ("2.0.0", True), ("2", False), ("2.1", False), ("3.0", False),
     ("1.0", False), (None, False), (2.0, False), ("2.x", False)],
)  # fmt: skip
def test_only_an_envelope_version_oslo_unwraps_is_unwrapped(version: object, ok: bool) -> None:
    message = {"event_type": "x.y", "message_id": "m"}
    body = orjson.dumps({"oslo.version": version, "oslo.message": orjson.dumps(message).decode()})
    result = decode(body, 10**7)
    if ok:
        assert isinstance(result, Notification)
    else:
        assert isinstance(result, DecodeError)
        assert result.reason is Reason.UNKNOWN_OSLO_VERSION


@pytest.mark.parametrize(
    "text",
    [
        '{"event_type": "x", "_context_auth_token": "T", "_context_auth_token": null}',
        '{"_context_auth_token": "T", "event_type": "x", "_context_auth_token": ""}',
        '{"event_type": "x", "_context_auth_toke\\u006e": "T", "_context_auth_token": null}',
        '{"event_type": "x", "_context": {"auth_token": "T", "auth_token": null}}',
    ],
)
def test_every_occurrence_of_a_secret_key_is_seen_whatever_the_parser_keeps(text: str) -> None:
    text = text.replace('"T"', f'"{TOKEN}"')
    out = RULE.forward(json.loads(text), text)
    assert TOKEN.encode() not in out
    json.loads(out)  # still JSON


def test_a_body_without_secret_keys_is_forwarded_as_the_same_bytes_even_with_escapes() -> None:
    text = json.dumps({"event_type": "x", "name": "caf\u00e9 \u2603", "_context_auth_token": None})
    body = text.encode()
    assert RULE.forward(json.loads(text), body) is body


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("password=hunter2 ok", "password=<redacted> ok"),
        ("user token: abc123;", "user token: <redacted>;"),
        ("Authorization: Bearer xyz.abc\nnext", "Authorization: <redacted>\nnext"),
        ("X-Auth-Token: abc", "X-Auth-Token: <redacted>"),
        ("amqp://nova:pw@rabbit:5672/", "amqp://nova:<redacted>@rabbit:5672/"),
        ('"api_key": "zzz"', '"api_key": "<redacted>"'),
        ("secret_key=4 PASSWD = x", "secret_key=<redacted> PASSWD = <redacted>"),
        ("keyboard=1 monkey=2 tokenizer=3", "keyboard=1 monkey=2 tokenizer=3"),
    ],
)
def test_free_text_credentials_are_masked(text: str, masked: str) -> None:
    assert mask_free_text(text) == masked


def test_credentials_in_json_strings_are_masked_and_the_dead_letter_stays_json() -> None:
    body = json.dumps(
        {"note": "retry with password=hunter2", "cfg": {"password": "x1", "token": 5}}
    ).encode()
    value, how = RULE.dead_letter(body)
    assert how == "masked"
    assert json.loads(value) == {
        "note": "retry with password=<redacted>",
        "cfg": {"password": "<redacted>", "token": 5},
    }


def test_a_delivery_the_builder_fails_on_becomes_a_bridge_error_dead_letter() -> None:
    builder = RecordBuilder(BridgeSettings())
    delivery = Delivery(1, b"token=abc " + b"x" * 10, "r")
    record = builder.last_resort(delivery, RecursionError("boom"), b"now")
    headers = dict(record.headers)
    assert (record.reason, headers["reason"]) == ("bridge_error", b"bridge_error")
    assert record.value == b"token=<redacted> " + b"x" * 10
    assert headers["scrubbed"] == b"masked"
