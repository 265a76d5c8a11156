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
# deepest nesting walked (orjson's own limit: a body it parsed is never refused for depth)
MAX_DEPTH = 1024
_EMPTY: dict[str, Any] = {"]": [], "}": {}}  # what a container that closes at once holds


class NotJson(ValueError):
    """The text is not one JSON value (RFC 8259: no NaN or Infinity)."""


class TooDeep(NotJson):
    """JSON nested deeper than can be parsed or walked (MAX_DEPTH)."""


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
    except RecursionError as exc:
        raise TooDeep(f"nested deeper than the parser goes at {start}") from exc
    except (ValueError, StopIteration) as exc:
        raise NotJson(f"not JSON at {start}") from exc
    if _skip(text, end) != len(text):
        raise NotJson(f"extra data at {end}")
    return value


def remove_members(text: str, drop: Drop, descend: Descend) -> str:
    """``text`` (one JSON value) without the object members ``drop`` picks.

    The top level is always looked at; a member's value is looked into only where
    ``descend`` says so. What is kept is the input's text exactly; a removed member takes one
    separating comma with it. Raises NotJson if ``text`` is not JSON or nests deeper than
    MAX_DEPTH. Iterative: the depth of the input never becomes the depth of the call stack.
    """
    start = _skip(text, 0)
    try:
        out, end = _Walk(text, drop, descend).value(start, ())
    except TooDeep:
        raise
    except (ValueError, StopIteration, IndexError) as exc:
        raise NotJson(f"not JSON: {exc!r}") from exc
    if _skip(text, end) != len(text):
        raise NotJson(f"extra data at {end}")
    return text[:start] + out + text[end:]


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]  # matches "" at least


def _end_of(text: str, at: int) -> int:
    """Where the value at ``at`` ends: the C scanner, or (nested too deep for its
    recursion) a walk that looks at nothing."""
    try:
        return _scan(text, at)[1]
    except RecursionError:
        return _Walk(text, _keep, _keep, passive=True).value(at, ())[1]


def _keep(*_: Any) -> bool:
    return False


class _Frame:
    """An object or array being walked: what is kept of it so far."""

    __slots__ = ("at", "is_object", "kept", "key", "member", "path", "pieces", "separator")

    def __init__(self, is_object: bool, path: Path, pieces: list[str], at: int) -> None:
        self.is_object = is_object
        self.path = path
        self.pieces = pieces
        self.at = at  # where the next member or element starts
        self.kept = 0
        self.separator = ""
        self.key = ""  # the member whose container value is walked now
        self.member = ""  # its text up to the value (key and colon)


class _Walk:
    """One walk of ``text``: a stack of open containers instead of recursion."""

    def __init__(self, text: str, drop: Drop, descend: Descend, *, passive: bool = False) -> None:
        self._text = text
        self._drop = drop
        self._descend = descend
        self._passive = passive  # only find the end: every container walked, nothing dropped

    def value(self, at: int, path: Path) -> tuple[str, int]:
        """The value at ``at`` with members dropped, and where it ends in ``text``."""
        text = self._text
        if text[at] not in "{[":
            _, end = _scan(text, at)
            return text[at:end], end
        stack: list[_Frame] = []
        done = self._open(stack, at, path)
        while True:
            if done is None:
                done = self._step(stack)
                if done is None:
                    continue
            # a container closed: it is the value of the item its parent was reading
            if not stack:
                return done
            done = self._closed(stack, *done)

    def _open(self, stack: list[_Frame], opened: int, path: Path) -> tuple[str, int] | None:
        """Start a container; its text and end at once if it is empty."""
        if len(stack) >= MAX_DEPTH:
            raise TooDeep(f"nested deeper than {MAX_DEPTH} at {opened}")
        text = self._text
        at = _skip(text, opened + 1)
        if text[at] == ("}" if text[opened] == "{" else "]"):
            return text[opened : at + 1], at + 1
        stack.append(_Frame(text[opened] == "{", path, [text[opened:at]], at))
        return None

    def _step(self, stack: list[_Frame]) -> tuple[str, int] | None:
        """Read the next item of the innermost container: a finished container's text and
        end when it closes; None when an item was handled or a new container opened."""
        frame, text = stack[-1], self._text
        at = frame.at
        if not frame.is_object:
            if text[at] in "{[":
                return self._open(stack, at, frame.path)
            _, end = _scan(text, at)
            frame.pieces.append(text[at:end])
            return self._next_element(stack, frame, end)
        if text[at] != '"':
            raise ValueError(f"expected a key at {at}")
        key, after_key = _scanstring(text, at + 1)
        colon = _COLON.match(text, after_key)
        if colon is None:
            raise ValueError(f"expected ':' at {after_key}")
        value_at = colon.end()
        if text[value_at] in "{[" and (self._passive or self._descend(frame.path, key)):
            removed = self._passive is False and self._drop(
                frame.path, key, _EMPTY.get(text[_skip(text, value_at + 1)], CONTAINER)
            )
            if not removed:
                frame.key, frame.member = key, text[at:value_at]
                return self._open(stack, value_at, (*frame.path, key))
            end, inner = _end_of(text, value_at), ""
        else:
            try:
                value, end = _scan(text, value_at)
            except RecursionError:  # deeper than the C scanner goes: looked at as a container
                value, end = CONTAINER, _end_of(text, value_at)
            inner = text[value_at:end]
            removed = self._drop(frame.path, key, value)
        return self._member(stack, frame, text[at:value_at], inner, removed, end)

    def _closed(self, stack: list[_Frame], inner: str, end: int) -> tuple[str, int] | None:
        """A container value ended at ``end``: append it to its parent, go on there."""
        frame = stack[-1]
        if not frame.is_object:
            frame.pieces.append(inner)
            return self._next_element(stack, frame, end)
        return self._member(stack, frame, frame.member, inner, False, end)

    def _member(
        self,
        stack: list[_Frame],
        frame: _Frame,
        member: str,
        inner: str,
        removed: bool | str,
        end: int,
    ) -> tuple[str, int] | None:
        if isinstance(removed, str):
            inner, removed = removed, False
        if not removed:
            if frame.kept:
                frame.pieces.append(frame.separator)
            frame.pieces.append(member)
            frame.pieces.append(inner)
            frame.kept += 1
        text = self._text
        after = _NEXT_MEMBER.match(text, end)
        if after is None:
            raise ValueError(f"expected ',' or '}}' at {end}")
        if after.group(1) == "}":
            close = after.start(1) + 1
            frame.pieces.append(text[end:close])
            stack.pop()
            return "".join(frame.pieces), close
        frame.at = after.end()
        frame.separator = text[end : frame.at]
        return None

    def _next_element(self, stack: list[_Frame], frame: _Frame, end: int) -> tuple[str, int] | None:
        text = self._text
        after = _NEXT_ELEMENT.match(text, end)
        if after is None:
            raise ValueError(f"expected ',' or ']' at {end}")
        if after.group(1) == "]":
            close = after.start(1) + 1
            frame.pieces.append(text[end:close])
            stack.pop()
            return "".join(frame.pieces), close
        frame.at = after.end()
        frame.pieces.append(text[end : frame.at])
        return None


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
        except (ValueError, StopIteration, RecursionError):
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
