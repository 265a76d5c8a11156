"""Removes secrets that oslo.messaging copies from the request context into notifications.

Before oslo.messaging 14.4 every notification carried the caller's ``_context_auth_token``
(a valid Keystone token) and the service catalog; some contexts nest them (``{"_context":
{"auth_token": ...}}``). They must never reach Kafka, where retention is long and readers are
many: neither in forwarded records nor in dead letters.

The rule (README of the bridge, docs/bridge-reliability.md):

- *secret names*: ``auth_token``, ``service_catalog`` and every ``secret_fields`` entry with
  its ``_context_`` prefix taken off; a *secret key* is a secret name, or ``_context_`` + one.
- forwarded records: a member whose key is a secret key and whose value is not empty is
  removed at the top level of the notification, and at any depth inside a top-level member
  whose key starts with ``_context`` (the request context, flat or nested). The payload is
  not touched. An empty value (null, ``""``, ``[]``, ``{}``) carries nothing: Nova with
  oslo >= 14.4 sends ``"_context_auth_token": null, "_context_service_catalog": []`` in every
  notification, and such messages are forwarded byte for byte, without a second parse.
- dead letters: the same keys are removed at any depth (payload included); a body that is
  not JSON is cut where anything secret-looking starts (``cut_at_secret``).

Removal cuts the member out of the JSON text (``jsontext``): nothing else is re-encoded.
"""

import re
from collections.abc import Iterable
from typing import Any

from bridge import jsontext

_ALWAYS = ("auth_token", "service_catalog")
_CONTEXT = "_context"
# Fernet tokens (Keystone's default) are urlsafe base64 starting with gAAAAA
_TOKEN_SHAPES = (r"gAAAAA[A-Za-z0-9_=-]{20,}",)


class SecretRule:
    """Which keys are secret; how to find and remove them."""

    def __init__(self, secret_fields: Iterable[str]) -> None:
        fields = tuple(secret_fields)
        names = {*_ALWAYS, *(f.removeprefix("_context_") for f in fields)}
        self.keys = frozenset({*names, *(f"_context_{n}" for n in names), *fields})
        self._top = tuple(sorted(self.keys))
        self._needles = tuple(f'"{key}"' for key in sorted(self.keys))
        self._byte_needles = tuple(n.encode() for n in self._needles)
        self._marker = _marker_pattern(names)

    # forwarded records -------------------------------------------------------------------

    def forward(self, message: dict[str, Any], text: str | bytes) -> bytes:
        """The notification's bytes for Kafka: ``text`` as received, secrets removed."""
        if not self._may_hold(text) or not self._holds(message):
            return text.encode() if isinstance(text, str) else text
        source = text if isinstance(text, str) else text.decode()
        return jsontext.remove_members(source, self._drop_forward, _under_context).encode()

    def _may_hold(self, text: str | bytes) -> bool:
        """Cheap: could a secret key be in ``text`` at all? (A key can hide only behind a
        ``\\u`` escape: the other JSON escapes make no letters.)"""
        if isinstance(text, str):
            return "\\u" in text or any(n in text for n in self._needles)
        return b"\\u" in text or any(n in text for n in self._byte_needles)

    def _holds(self, message: dict[str, Any]) -> bool:
        """Exact, on the decoded notification: is there something to remove?"""
        for key in self._top:
            if not _empty(message.get(key)):
                return True
        return any(
            key.startswith(_CONTEXT) and isinstance(value, dict | list) and self._deep(value)
            for key, value in message.items()
        )

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


def _empty(value: Any) -> bool:
    """Null, or an empty string, list or object: no secret in it."""
    return value is None or (isinstance(value, str | list | dict) and not value)


def _under_context(path: jsontext.Path, key: str) -> bool:
    return bool(path) or key.startswith(_CONTEXT)


def _everywhere(path: jsontext.Path, key: str) -> bool:
    return True
