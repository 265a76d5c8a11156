"""Remove members from JSON text without re-encoding anything else.

``orjson.dumps(orjson.loads(text))`` is not the identity: integers above 64 bits become
floats (an aggregate id of 10**30 came out as ``1e+30``), numbers beyond a double fail, and
bodies can grow. Here the text is walked with the stdlib's own scanner (``json.scanner``,
which gives exact end offsets), and removing a member cuts its span out of the text: every
byte of what is kept, numbers included, is the input's.
"""

import json
import re
from collections.abc import Callable
from typing import Any, NoReturn

_SPACE = re.compile(r"[ \t\n\r]*")
_COLON = re.compile(r"[ \t\n\r]*:[ \t\n\r]*")
_NEXT_MEMBER = re.compile(r"[ \t\n\r]*([,}])[ \t\n\r]*")
_NEXT_ELEMENT = re.compile(r"[ \t\n\r]*([,\]])[ \t\n\r]*")

Path = tuple[str, ...]
# (path of keys above the member, key, value) -> remove this member (True), keep it (False),
# or replace its value with this JSON text (str). A container that is descended into is not
# parsed first: ``drop`` then gets CONTAINER as its value (``[]`` or ``{}`` if empty).
Drop = Callable[[Path, str, Any], bool | str]
# (path of keys above the member, key) -> may a member below this one be removed?
Descend = Callable[[Path, str], bool]


CONTAINER: Any = object()
_EMPTY: dict[str, Any] = {"]": [], "}": {}}  # what a container that closes at once holds


class NotJson(ValueError):
    """The text is not one JSON value (RFC 8259: no NaN or Infinity)."""


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


# the stdlib's C scanner (typeshed does not declare these): (text, index) -> (value, end)
_scan: Callable[[str, int], tuple[Any, int]] = getattr(  # noqa: B009
    json.JSONDecoder(parse_constant=_no_constant), "scan_once"
)
_scanstring: Callable[[str, int], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009


def loads(text: str) -> Any:
    """Strict JSON (no NaN/Infinity); integers exact, numbers beyond a double are inf."""
    start = _skip(text, 0)
    try:
        value, end = _scan(text, start)
    except (ValueError, StopIteration) as exc:
        raise NotJson(f"not JSON at {start}") from exc
    if _skip(text, end) != len(text):
        raise NotJson(f"extra data at {end}")
    return value


def remove_members(text: str, drop: Drop, descend: Descend) -> str:
    """``text`` (one JSON value) without the object members ``drop`` picks.

    The top level is always looked at; a member's value is looked into only where
    ``descend`` says so. What is kept is the input's text exactly; a removed member takes one
    separating comma with it. Raises NotJson if ``text`` is not JSON.
    """
    start = _skip(text, 0)
    try:
        out, end = _value(text, start, (), drop, descend)
    except (ValueError, StopIteration, IndexError) as exc:
        raise NotJson(f"not JSON: {exc!r}") from exc
    if _skip(text, end) != len(text):
        raise NotJson(f"extra data at {end}")
    return text[:start] + out + text[end:]


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]  # matches "" at least


def _value(text: str, at: int, path: Path, drop: Drop, descend: Descend) -> tuple[str, int]:
    """The value at ``at`` with members dropped, and where it ends in ``text``."""
    char = text[at]
    if char == "{":
        return _object(text, at, path, drop, descend)
    if char == "[":
        return _array(text, at, path, drop, descend)
    _, end = _scan(text, at)
    return text[at:end], end


def _object(text: str, opened: int, path: Path, drop: Drop, descend: Descend) -> tuple[str, int]:
    at = _skip(text, opened + 1)
    if text[at] == "}":
        return text[opened : at + 1], at + 1
    pieces = [text[opened:at]]
    separator, kept = "", 0
    while True:
        if text[at] != '"':
            raise ValueError(f"expected a key at {at}")
        key, after_key = _scanstring(text, at + 1)
        colon = _COLON.match(text, after_key)
        if colon is None:
            raise ValueError(f"expected ':' at {after_key}")
        value_at = colon.end()
        if text[value_at] in "{[" and descend(path, key):
            removed = drop(path, key, _EMPTY.get(text[_skip(text, value_at + 1)], CONTAINER))
            if removed:
                _, end = _scan(text, value_at)
            else:
                inner, end = _value(text, value_at, (*path, key), drop, descend)
        else:
            value, end = _scan(text, value_at)
            inner = text[value_at:end]
            removed = drop(path, key, value)
        if isinstance(removed, str):
            inner, removed = removed, False
        if not removed:
            if kept:
                pieces.append(separator)
            pieces.append(text[at:value_at])
            pieces.append(inner)
            kept += 1
        after = _NEXT_MEMBER.match(text, end)
        if after is None:
            raise ValueError(f"expected ',' or '}}' at {end}")
        if after.group(1) == "}":
            close = after.start(1) + 1
            pieces.append(text[end:close])
            return "".join(pieces), close
        at = after.end()
        separator = text[end:at]


def _array(text: str, opened: int, path: Path, drop: Drop, descend: Descend) -> tuple[str, int]:
    at = _skip(text, opened + 1)
    if text[at] == "]":
        return text[opened : at + 1], at + 1
    pieces = [text[opened:at]]
    while True:
        inner, end = _value(text, at, path, drop, descend)
        pieces.append(inner)
        after = _NEXT_ELEMENT.match(text, end)
        if after is None:
            raise ValueError(f"expected ',' or ']' at {end}")
        if after.group(1) == "]":
            close = after.start(1) + 1
            pieces.append(text[end:close])
            return "".join(pieces), close
        at = after.end()
        pieces.append(text[end:at])


def dumps_string(value: str) -> str:
    """``value`` as a JSON string (for a member whose value is replaced)."""
    return json.dumps(value, ensure_ascii=False)


def cut_first(text: str, keys: list[str]) -> str | None:
    """``text`` without the member at the first ``"key"`` of each key: fast, but blind to
    structure (the first occurrence may be nested or inside a string), so the caller must
    check the result (parsed, it must equal the expected object); None if it cannot tell.
    """
    spans = []
    for key in keys:
        at = text.find(f'"{key}"')
        colon = _COLON.match(text, at + len(key) + 2) if at >= 0 else None
        if colon is None:
            return None
        try:
            _, end = _scan(text, colon.end())
        except (ValueError, StopIteration):
            return None
        spans.append((at, end))
    spans.sort()
    pieces, done = [], 0
    for at, end in spans:
        after = _NEXT_MEMBER.match(text, end)
        if after is None or at < done:
            return None
        if after.group(1) == ",":  # take the comma after it
            pieces.append(text[done:at])
            done = after.end()
            continue
        before = len(text[:at].rstrip(" \t\n\r")) - 1  # the last member: the comma before
        if before < done:  # the member before it was cut too, with the comma after it
            kept = pieces[-1].rstrip(" \t\n\r")
            if not kept.endswith((",", "{")) or text[done:at].strip(" \t\n\r"):
                return None
            pieces[-1] = kept[:-1] if kept.endswith(",") else kept
            done = end
            continue
        if text[before] not in ",{":
            return None
        pieces.append(text[done : before + (text[before] == "{")])
        done = end
    pieces.append(text[done:])
    return "".join(pieces)
