"""Text from events made safe for a terminal: names come from Nova, hence from anyone.

A host or aggregate named with escape sequences (``ESC[2J``, ``ESC]0;title BEL``, a
right-to-left override) must not clear the screen, retitle the window or reorder a line.
Every renderer passes what it prints through here; control and format characters become the
escapes Python's ``repr`` uses (``\\x1b``, ``\\u202e``), printable text is left as it is.
"""

_SURROGATE_BASE = 0x10000


def printable(text: str) -> str:
    """``evil\\x1b[2J`` (with a real ESC) -> ``evil\\\\x1b[2J``: visible, inert."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def json_printable(text: str) -> str:
    """JSON text whose non-printable characters are written as ``\\uXXXX``: the same JSON
    value, safe on a terminal. ``text`` must come from a JSON encoder (orjson), which already
    escapes quotes, backslashes and C0 controls, so what is left to escape is inside strings."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _json_escaped(ord(c)) for c in text)


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _json_escaped(code: int) -> str:
    if code < _SURROGATE_BASE:
        return f"\\u{code:04x}"
    code -= _SURROGATE_BASE  # JSON spells an astral character as a UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
