"""Removes secrets that oslo.messaging copies from the request context into notifications.

Before oslo.messaging 14.4 every notification carried the caller's ``_context_auth_token``
(a valid Keystone token) and the service catalog; some contexts nest them (``{"_context":
{"auth_token": ...}}``). They must never reach Kafka, where retention is long and readers are
many: neither in forwarded records nor in dead letters.

The rule (also in docs/bridge-reliability.md):

- *secret names*: ``auth_token``, ``service_catalog`` and every ``secret_fields`` entry with
  its ``_context_`` prefix taken off; a *secret key* is a secret name, or ``_context_`` + one.
- forwarded records: a member whose key is a secret key and whose value is not empty is
  removed at the top level of the notification, and at any depth inside a top-level member
  whose key starts with ``_context`` (the request context, flat or nested). The payload is
  not touched. An empty value (null, ``""``, ``[]``, ``{}``) carries nothing: Nova with
  oslo >= 14.4 sends ``"_context_auth_token": null, "_context_service_catalog": []`` in every
  notification, and such messages are forwarded byte for byte, without a second parse.
- dead letters: the same keys are removed at any depth (payload included), and a Fernet token
  left anywhere else is replaced by ``gAAAAA<redacted>``; a body that is not JSON is cut where
  anything secret-looking starts (``cut_at_secret``).

Removal cuts the member out of the JSON text (``jsontext``): nothing else is re-encoded.
"""

import re
from collections.abc import Iterable
from typing import Any

import orjson

from precache.bridge import jsontext

_ALWAYS = ("auth_token", "service_catalog")
_CONTEXT = "_context"
# Fernet tokens (Keystone's default) are urlsafe base64 starting with gAAAAA
_TOKEN_SHAPES = (r"gAAAAA[A-Za-z0-9_=-]{20,}",)
_FERNET = re.compile(_TOKEN_SHAPES[0])
_REDACTED = "gAAAAA<redacted>"  # no quote or backslash: JSON text stays JSON


class SecretRule:
    """Which keys are secret; how to find and remove them."""

    def __init__(self, secret_fields: Iterable[str]) -> None:
        fields = tuple(secret_fields)
        names = {*_ALWAYS, *(f.removeprefix("_context_") for f in fields)}
        self.keys = frozenset({*names, *(f"_context_{n}" for n in names), *fields})
        self._top = tuple(sorted(self.keys))
        # every secret key ends with a secret name: ``name"`` finds both forms in one search
        self._needles = tuple(f'{name}"' for name in sorted(names))
        self._byte_needles = tuple(n.encode() for n in self._needles)
        self._marker = _marker_pattern(names)
        # a ``\\u`` escape that makes a character of a secret name (encoders escape control
        # characters and sometimes ``<>&'``, never letters): the text hides a key, parse it
        self._escape = _escape_pattern(names)
        self._byte_escape = re.compile(self._escape.pattern.encode())

    # forwarded records -------------------------------------------------------------------

    def forward(self, message: dict[str, Any], text: str | bytes) -> bytes:
        """The notification's bytes for Kafka: ``text`` as received, secrets removed.

        Text first, cheaply: a secret key can only be where ``name"`` occurs for a secret
        name, or behind a ``\\u`` escape (no other JSON escape makes letters). Each top-level
        secret key holds one such occurrence; more of them (or an escape) may be a secret
        nested in a ``_context*`` member, which the decoded values then tell exactly.
        """
        if isinstance(text, str):  # (a one-character search is a memchr: test "\\" first)
            escaped = "\\" in text and self._escape.search(text) is not None
            found = sum(text.count(n) for n in self._needles)
        else:
            escaped = b"\\" in text and self._byte_escape.search(text) is not None
            found = sum(text.count(n) for n in self._byte_needles)
        if not escaped and not found:
            return text.encode() if isinstance(text, str) else text
        top = [key for key in self._top if message.get(key) not in _EMPTY]
        # an occurrence the parsed top level does not explain: nested in ``_context*``, or a
        # key given twice (the parser keeps the last: a token, then null, parsed as null)
        unexplained = escaped or found > sum(k in message for k in self._top)
        if not top and not unexplained:
            return text.encode() if isinstance(text, str) else text
        source = text if isinstance(text, str) else text.decode()
        cut = None if unexplained else self._cut_top(message, source, top)
        return (cut or self._walk(source)).encode()

    def _cut_top(self, message: dict[str, Any], text: str, keys: list[str]) -> str | None:
        """The common case (oslo < 14.4: a token and a catalog at the top level) without
        walking the text: each member cut where its key first occurs, and the result checked
        (orjson) to be exactly the notification without them. None: ``_walk`` instead."""
        cut = jsontext.cut_first(text, keys)
        if cut is None:
            return None
        expected = {key: value for key, value in message.items() if key not in keys}
        try:
            return cut if orjson.loads(cut) == expected else None
        except orjson.JSONDecodeError:
            return None

    def _walk(self, text: str) -> str:
        return jsontext.remove_members(text, self._drop_forward, _under_context)

    def _deep(self, value: Any) -> bool:
        """Is a secret key with a value anywhere in ``value``? Iterative: any depth."""
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                for k, v in item.items():
                    if k in self.keys and not _empty(v):
                        return True
                    if isinstance(v, dict | list):
                        pending.append(v)
            elif isinstance(item, list):
                pending.extend(v for v in item if isinstance(v, dict | list))
        return False

    def _drop_forward(self, path: jsontext.Path, key: str, value: Any) -> bool:
        return key in self.keys and not _empty(value)

    # dead letters -------------------------------------------------------------------------

    def dead_letter(self, body: bytes) -> tuple[bytes, str]:
        """A body for the DLQ, and what was done: ``none``, ``fields``, ``masked`` or ``cut``.

        JSON: secret keys removed at any depth, also inside an envelope's ``oslo.message``
        string (which is JSON, or else cut), and free-text credentials in strings masked.
        Not JSON (or not UTF-8, or nested too deep to walk): ``cut_at_secret``.
        """
        cuts: list[str] = []  # what was done: "fields", "cut", "masked"
        try:
            text = body.decode()
            scrubbed = self._scrub_json(text, cuts)
        except (UnicodeDecodeError, jsontext.NotJson):
            return self.cut_at_secret(body)
        if scrubbed == text:
            return body, "none"
        how = "cut" if "cut" in cuts else "fields" if "fields" in cuts else "masked"
        return scrubbed.encode(), how

    def _scrub_json(self, text: str, cuts: list[str]) -> str:
        def drop(path: jsontext.Path, key: str, value: Any) -> bool | str:
            if key in self.keys and not _empty(value):
                cuts.append("fields")
                return True
            if not path and key == "oslo.message" and isinstance(value, str):
                inner = self._scrub_inner(value, cuts)
                return False if inner == value else jsontext.dumps_string(inner)
            return False

        kept = jsontext.remove_members(text, drop, _everywhere)
        tokens_gone = _FERNET.sub(_REDACTED, kept)  # a token under some other key
        if tokens_gone != kept:
            cuts.append("fields")
        return _mask_quoted(tokens_gone)

    def _scrub_inner(self, inner: str, cuts: list[str]) -> str:
        try:
            return self._scrub_json(inner, cuts)
        except jsontext.NotJson:
            kept, how = self.cut_at_secret(inner.encode())
            if how != "none":
                cuts.append(how)
            return kept.decode(errors="ignore")

    def cut_at_secret(self, body: bytes) -> tuple[bytes, str]:
        """``body`` with free-text credentials masked (``password=...``, ``token: ...``,
        ``Authorization: ...``, a URL's password), then cut at the first secret-looking
        text: a secret name in any case, with ``_``, ``-``, a space or ``\\u005f`` between
        its words, or a Fernet token. No parsing: safe on any bytes (it is the fallback)."""
        text = body.decode("latin-1")  # one char per byte: same offsets, any bytes
        masked = mask_free_text(text)
        found = self._marker.search(masked)
        if found is not None:
            return masked[: found.start()].encode("latin-1"), "cut"
        if masked != text:
            return masked.encode("latin-1"), "masked"
        return body, "none"


# free-text credentials: ``password=x``, ``"token": "x"``, ``X-Auth-Token: x``; the value
# (to a quote, space or separator) becomes MASK. ASCII classes: bytes read as latin-1 stay
# whole (a UTF-8 sequence is never split).
MASK = "<redacted>"
_CREDENTIAL_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|(?:auth[-_ ]?|access[-_ ]?|refresh[-_ ]?|x-auth-|"
    r"x-subject-)?token|(?:api|secret|access|private)[-_]?key|credentials?"
)
_WORDS = ("pass", "pwd", "secret", "token", "key", "credential")  # in every credential word
_FREE_TEXT = re.compile(
    rf"(?<![A-Za-z0-9])((?:{_CREDENTIAL_WORDS})[\"']?[ \t]*[=:][ \t]*[\"']?)"
    r"([^\s\"'&,;<>\\]+)",
    re.IGNORECASE | re.ASCII,
)
_QUOTED = re.compile(
    rf"(?<![A-Za-z0-9])((?:{_CREDENTIAL_WORDS})(?:\"[ \t]*:[ \t]*\"|[ \t]*[=:][ \t]*))"
    r"([^\s\"'&,;<>\\]+)",
    re.IGNORECASE | re.ASCII,
)
# the whole value of an Authorization header (scheme and credentials), to the line's end
_AUTHORIZATION = re.compile(
    r"((?:proxy-)?authorization[\"']?[ \t]*[=:][ \t]*[\"']?)([^\r\n\"\\]+)",
    re.IGNORECASE | re.ASCII,
)
_URL_PASSWORD = re.compile(r"(://[^/\s:@\"\\]*:)([^/\s@\"\\]+)(@)", re.ASCII)


def mask_free_text(text: str) -> str:
    """``text`` with what looks like a credential in prose or a log line masked."""
    return _mask(text, _FREE_TEXT)


def _mask_quoted(text: str) -> str:
    """JSON text with credentials masked only inside strings (``"password": "x"`` or
    ``"... token=x ..."``): the result is still JSON, nothing else changes."""
    return _mask(text, _QUOTED)


def _mask(text: str, credential: "re.Pattern[str]") -> str:
    # each pattern runs only where its words occur: scanning 8 MB costs seconds per pattern
    low = text.lower()
    if "authorization" in low:
        text = _AUTHORIZATION.sub(rf"\g<1>{MASK}", text)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)
    if any(word in low for word in _WORDS):
        text = credential.sub(_masked, text)
    return text


def _masked(match: "re.Match[str]") -> str:
    """The credential's value masked, unless it is masked already (a redacted token)."""
    if match.group(2) == MASK or match.string.startswith(MASK, match.end()):
        return match.group(0)
    return match.group(1) + MASK


def _marker_pattern(names: Iterable[str]) -> "re.Pattern[str]":
    joiner = r"(?:[-_ ]|\\u005[fF])"
    words = [joiner.join(re.escape(part) for part in name.split("_")) for name in names]
    return re.compile("|".join([*sorted(words), *_TOKEN_SHAPES]), re.IGNORECASE)


def _escape_pattern(names: Iterable[str]) -> "re.Pattern[str]":
    chars = sorted({char for name in names for char in name})
    if any(ord(char) > 0x7F for char in chars):
        return re.compile(r"\\u")  # any escape might be one
    hexes = "|".join(f"{ord(char):04x}" for char in chars)
    return re.compile(rf"\\u(?i:{hexes})")


_EMPTY: tuple[Any, ...] = (None, "", [], {})  # no secret in these (``in``: == per item)


def _empty(value: Any) -> bool:
    """Null, or an empty string, list or object: no secret in it."""
    return value is None or (isinstance(value, str | list | dict) and not value)


def _under_context(path: jsontext.Path, key: str) -> bool:
    return bool(path) or key.startswith(_CONTEXT)


def _everywhere(path: jsontext.Path, key: str) -> bool:
    return True
