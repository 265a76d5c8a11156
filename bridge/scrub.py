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

    # forwarded records -------------------------------------------------------------------

    def forward(self, message: dict[str, Any], text: str | bytes) -> bytes:
        """The notification's bytes for Kafka: ``text`` as received, secrets removed.

        Text first, cheaply: a secret key can only be where ``name"`` occurs for a secret
        name, or behind a ``\\u`` escape (no other JSON escape makes letters). Each top-level
        secret key holds one such occurrence; more of them (or an escape) may be a secret
        nested in a ``_context*`` member, which the decoded values then tell exactly.
        """
        if isinstance(text, str):  # (a one-character search is a memchr: test "\\" first)
            escaped = "\\" in text and "\\u" in text
            found = sum(text.count(n) for n in self._needles)
        else:
            escaped = b"\\" in text and b"\\u" in text
            found = sum(text.count(n) for n in self._byte_needles)
        if not escaped and not found:
            return text.encode() if isinstance(text, str) else text
        top = [key for key in self._top if message.get(key) not in _EMPTY]
        nested = (escaped or found > sum(k in message for k in self._top)) and self._nested(message)
        if not top and not nested:
            return text.encode() if isinstance(text, str) else text
        source = text if isinstance(text, str) else text.decode()
        cut = None if nested else self._cut_top(message, source, top)
        return (cut or self._walk(source)).encode()

    def _nested(self, message: dict[str, Any]) -> bool:
        """Is a secret (not empty) nested in a top-level ``_context*`` member?"""
        return any(
            key.startswith(_CONTEXT) and isinstance(value, dict | list) and self._deep(value)
            for key, value in message.items()
            if key not in self.keys
        )

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
        if isinstance(value, dict):
            return any(
                (k in self.keys and not _empty(v)) or self._deep(v) for k, v in value.items()
            )
        if isinstance(value, list):
            return any(self._deep(v) for v in value)
        return False

    def _drop_forward(self, path: jsontext.Path, key: str, value: Any) -> bool:
        return key in self.keys and not _empty(value)

    # dead letters -------------------------------------------------------------------------

    def dead_letter(self, body: bytes) -> tuple[bytes, str]:
        """A body for the DLQ, and what was done: ``none``, ``fields`` or ``cut``.

        JSON: secret keys removed at any depth, also inside an envelope's ``oslo.message``
        string (which is JSON, or else cut). Not JSON (or not UTF-8): cut where the first
        secret-looking text starts (``cut_at_secret``).
        """
        cuts: list[str] = []
        try:
            text = body.decode()
            scrubbed = self._scrub_json(text, cuts)
        except (UnicodeDecodeError, jsontext.NotJson):
            return self.cut_at_secret(body)
        scrubbed = _FERNET.sub(_REDACTED, scrubbed)  # a token under some other key
        if scrubbed == text:
            return body, "none"
        return scrubbed.encode(), "cut" if cuts else "fields"

    def _scrub_json(self, text: str, cuts: list[str]) -> str:
        def drop(path: jsontext.Path, key: str, value: Any) -> bool | str:
            if key in self.keys and not _empty(value):
                return True
            if not path and key == "oslo.message" and isinstance(value, str):
                inner = self._scrub_inner(value, cuts)
                return False if inner == value else jsontext.dumps_string(inner)
            return False

        return jsontext.remove_members(text, drop, _everywhere)

    def _scrub_inner(self, inner: str, cuts: list[str]) -> str:
        try:
            return self._scrub_json(inner, cuts)
        except jsontext.NotJson:
            kept, how = self.cut_at_secret(inner.encode())
            if how == "cut":
                cuts.append(inner)
            return kept.decode(errors="ignore")

    def cut_at_secret(self, body: bytes) -> tuple[bytes, str]:
        """``body`` up to the first secret-looking text: a secret name in any case, with
        ``_``, ``-``, a space or ``\\u005f`` between its words, or a Fernet token."""
        found = self._marker.search(body.decode("latin-1"))  # one char per byte: same offsets
        if found is None:
            return body, "none"
        return body[: found.start()], "cut"


def _marker_pattern(names: Iterable[str]) -> "re.Pattern[str]":
    joiner = r"(?:[-_ ]|\\u005[fF])"
    words = [joiner.join(re.escape(part) for part in name.split("_")) for name in names]
    return re.compile("|".join([*sorted(words), *_TOKEN_SHAPES]), re.IGNORECASE)


_EMPTY: tuple[Any, ...] = (None, "", [], {})  # no secret in these (``in``: == per item)


def _empty(value: Any) -> bool:
    """Null, or an empty string, list or object: no secret in it."""
    return value is None or (isinstance(value, str | list | dict) and not value)


def _under_context(path: jsontext.Path, key: str) -> bool:
    return bool(path) or key.startswith(_CONTEXT)


def _everywhere(path: jsontext.Path, key: str) -> bool:
    return True
