"""Secrets out, everything else byte for byte: forwarded records and dead letters."""

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from precache.bridge import jsontext
from precache.bridge.decode import Notification, decode
from precache.bridge.scrub import SecretRule
from precache.bridge.settings import DEFAULT_SECRET_FIELDS

RULE = SecretRule(DEFAULT_SECRET_FIELDS)
TOKEN = "gAAAAABpZ8example-keystone-fernet-token-0123456789abcdef"


def _forward(text: str) -> str:
    return RULE.forward(json.loads(text), text).decode()


def test_top_level_token_and_catalog_are_removed_the_rest_kept_byte_for_byte() -> None:
    text = (
        '{"event_type": "x", "_context_auth_token": "' + TOKEN + '", "n": 1E2,'
        ' "_context_service_catalog": [{"endpoints": []}], "_context_user": "admin"}'
    )
    assert _forward(text) == '{"event_type": "x", "n": 1E2, "_context_user": "admin"}'


def test_a_token_nested_under_a_context_object_is_removed() -> None:
    text = json.dumps(
        {
            "event_type": "x",
            "_context": {"auth_token": TOKEN, "user": "u", "deep": [{"service_catalog": [1]}]},
            "payload": {"auth_token": "payload is not touched"},
        }
    )
    out = json.loads(_forward(text))
    assert out["_context"] == {"user": "u", "deep": [{}]}
    assert out["payload"] == {"auth_token": "payload is not touched"}


def test_secret_fields_setting_names_more_keys_at_any_depth_under_a_context() -> None:
    rule = SecretRule([*DEFAULT_SECRET_FIELDS, "_context_roles"])
    text = '{"event_type": "x", "_context_roles": ["a"], "_context": {"roles": ["b"], "u": 1}}'
    out = rule.forward(json.loads(text), text).decode()
    assert out == '{"event_type": "x", "_context": {"u": 1}}'


def test_empty_secrets_are_left_and_the_text_forwarded_as_received() -> None:
    text = (
        '{"event_type": "x", "_context_auth_token": null, "_context_service_catalog": [],'
        ' "big": 100000000000000000000000, "_context": {"auth_token": "", "x": {}}}'
    )
    assert RULE.forward(json.loads(text), text) == text.encode()


def test_when_something_is_cut_empty_secrets_stay_too() -> None:
    text = '{"event_type": "x", "_context_service_catalog": [ ], "_context_auth_token": "t"}'
    assert _forward(text) == '{"event_type": "x", "_context_service_catalog": [ ]}'


def test_a_secret_key_first_seen_deeper_does_not_fool_the_fast_cut() -> None:
    text = (
        '{"event_type": "x", "payload": {"_context_auth_token": "kept: payload"},'
        ' "_context_auth_token": "' + TOKEN + '"}'
    )
    assert _forward(text) == (
        '{"event_type": "x", "payload": {"_context_auth_token": "kept: payload"}}'
    )


def test_a_key_hidden_behind_a_unicode_escape_is_still_found() -> None:
    text = '{"event_type": "x", "_context_auth\\u005ftoken": "' + TOKEN + '"}'
    assert TOKEN not in _forward(text)


def test_the_nova_fixture_with_an_unredacted_context_loses_only_the_secrets() -> None:
    message = {"event_type": "x", "payload": {"n": 10**30}, "_context_user": "u"}
    plain = json.dumps(message)
    catalog = [{"type": "image", "endpoints": [{"url": "https://glance.internal"}]}]
    leaky = json.dumps(
        {**message, "_context_auth_token": TOKEN, "_context_service_catalog": catalog}
    )
    assert _forward(leaky) == plain


# numbers: what orjson would rewrite survives ------------------------------------------

NUMBERS = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(10**60), max_value=10**60).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        ["-0.0", "1.0", "1e400", "-1e400", "1E2", "1e-400", "0.1000000000000000055511"]
    ),
    st.builds(
        lambda m, f, e: f"{m}.{f}e{e}",
        st.integers(-999, 999),
        st.integers(0, 10**20),
        st.integers(-500, 500),
    ),
)


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, list[str]]:
    """An oslo-like message as JSON text (whitespace varied), with its numbers' texts."""
    numbers = draw(st.lists(NUMBERS, min_size=1, max_size=8))
    secret = draw(st.booleans())
    sep = draw(st.sampled_from([", ", ",", " ,\n "]))
    members = [f'"n{i}": {n}' for i, n in enumerate(numbers)]
    members.append('"event_type": "aggregate.cache_images.progress"')
    members.append(f'"payload": {{"nova_object.data": {{"id": [{sep.join(numbers)}]}}}}')
    if secret:
        members.insert(draw(st.integers(0, len(members))), f'"_context_auth_token": "{TOKEN}"')
        members.append('"_context": {"auth_token": "' + TOKEN + '", "x": ' + numbers[0] + "}")
    return "{" + sep.join(members) + "}", numbers


@settings(max_examples=300, deadline=None)
@given(messages())
def test_every_number_survives_byte_for_byte(case: tuple[str, list[str]]) -> None:
    text, numbers = case
    envelope = orjson.dumps({"oslo.version": "2.0", "oslo.message": text})
    decoded = decode(envelope, 10**7)
    assert isinstance(decoded, Notification)
    out = RULE.forward(decoded.message, decoded.text).decode()
    assert TOKEN not in out
    if TOKEN not in text:
        assert out == text  # nothing to scrub: the inner text as received
    parsed = jsontext.loads(out)
    for i, number in enumerate(numbers):
        assert f'"n{i}": {number}' in out  # the number's own text
        assert parsed[f"n{i}"] == jsontext.loads(number)
    id_list = parsed["payload"]["nova_object.data"]["id"]
    assert id_list == [jsontext.loads(n) for n in numbers]


# dead letters ------------------------------------------------------------------------


def test_dead_letter_of_an_envelope_scrubs_inside_the_inner_string() -> None:
    inner = json.dumps({"payload": {}, "_context_auth_token": TOKEN, "_context": {"auth_token": 1}})
    body = json.dumps({"oslo.version": "2.0", "oslo.message": inner}).encode()
    value, how = RULE.dead_letter(body)
    assert how == "fields"
    assert TOKEN.encode() not in value
    assert json.loads(json.loads(value)["oslo.message"]) == {"payload": {}, "_context": {}}


def test_dead_letter_json_loses_secret_keys_anywhere() -> None:
    body = json.dumps([{"a": {"auth_token": TOKEN}}, {"service_catalog": [1], "b": 2}]).encode()
    value, how = RULE.dead_letter(body)
    assert (json.loads(value), how) == ([{"a": {}}, {"b": 2}], "fields")


def test_dead_letter_json_loses_a_fernet_token_under_any_key() -> None:
    body = json.dumps({"headers": {"X-Subject-Token": TOKEN}, "n": 10**30}).encode()
    value, how = RULE.dead_letter(body)
    assert how == "fields"
    assert json.loads(value) == {"headers": {"X-Subject-Token": "gAAAAA<redacted>"}, "n": 10**30}


def test_dead_letter_without_secrets_is_the_body_itself() -> None:
    body = b'{"oslo.version": "2.0", "oslo.message": "{broken"}'
    assert RULE.dead_letter(body) == (body, "none")


@pytest.mark.parametrize(
    "body",
    [
        b'{"message_id": "m", "_context_auth_token": "' + TOKEN.encode() + b'", "x": ',
        b'\xff\xfe{"auth_token": "' + TOKEN.encode() + b'"}',
        b'{"oslo.message": "{\\"_context_auth_token\\": \\"' + TOKEN.encode() + b'\\",',
        b"not json at all: X-Auth-Token: " + TOKEN.encode(),
        b"plain " + TOKEN.encode(),
        b"{'_context_service_catalog': [{'endpoints': ['secret']}]}",
    ],
)
def test_a_body_that_is_not_json_is_cut_where_a_secret_starts(body: bytes) -> None:
    value, how = RULE.dead_letter(body)
    assert how == "cut"
    assert TOKEN.encode() not in value
    assert b"secret" not in value.lower()
    assert body.startswith(value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_no_dead_letter_keeps_a_token(before: bytes, after: bytes) -> None:
    for secret in (b'"_context_auth_token": "' + TOKEN.encode() + b'"', TOKEN.encode()):
        value, _ = RULE.dead_letter(before + secret + after)
        assert TOKEN.encode() not in value


@pytest.mark.parametrize(
    ("text", "keys", "out"),
    [
        ('{"a": 1, "s": "t", "b": 2}', ["s"], '{"a": 1, "b": 2}'),
        ('{"a": 1, "s": "t"}', ["s"], '{"a": 1}'),
        ('{"s": "t"}', ["s"], "{}"),
        ('{"a": 1, "s": "t", "r": [1]}', ["s", "r"], '{"a": 1}'),
        ('{"s": "t", "r": [1], "a": 1}', ["s", "r"], '{"a": 1}'),
        ('{"s": "t", "r": [1]}', ["s", "r"], "{}"),
        ('{"a": 1}', ["s"], None),
    ],
)
def test_cut_first_cuts_members_with_one_comma(text: str, keys: list[str], out: str | None) -> None:
    assert jsontext.cut_first(text, keys) == out
