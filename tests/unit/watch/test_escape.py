"""Names made inert for a terminal, JSON kept the same value."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from precache.watch.escape import json_printable, printable


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("guaranine5", "guaranine5"),
        ("host name", "host name"),
        ("café-ü", "café-ü"),
        ("evil\x1b[2J", "evil\\x1b[2J"),
        ("bell\x07\n", "bell\\x07\\x0a"),
        ("csi\x9b1m", "csi\\x9b1m"),
        ("rtl\u202eltr", "rtl\\u202eltr"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("lone\udcff", "lone\\udcff"),
    ],
)
def test_printable(name: str, shown: str) -> None:
    assert printable(name) == shown
    assert printable(name).isprintable()


@given(st.text(st.characters(codec="utf-8")))
def test_json_printable_is_the_same_json_value_and_printable(value: str) -> None:
    text = json_printable(orjson.dumps({"host": value}).decode())
    assert text.isprintable()
    assert orjson.loads(text) == {"host": value}
