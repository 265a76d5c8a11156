"""AMQP body -> the inner oslo.messaging notification, or the reason it cannot be one.

oslo.messaging (messagingv2) wraps every notification in an envelope
``{"oslo.version": "2.0", "oslo.message": "<the notification as a JSON string>"}``; older
publishers send the notification dict itself. Anything else is a dead letter, never dropped.

The notification's JSON text is kept as received (``Notification.text``): the bridge forwards
those bytes, not a re-encoding of the parsed dict (which would rewrite numbers). JSON that
orjson cannot parse because of its numbers (beyond a double) is parsed again with the stdlib.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from precache.bridge import jsontext

_NOTIFICATION_FIELDS = ("event_type", "publisher_id", "payload", "message_id")
_ENVELOPE_VERSION = "2.0"  # oslo.messaging's _RPC_ENVELOPE_VERSION, the only one there is
_DEPTH_ERROR = "depth limit exceeded"  # orjson's message (fenced by a unit test)


class Reason(StrEnum):
    """Why a body went to the DLQ; the value is the ``reason`` header and the metric label."""

    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_ENVELOPE = "not_envelope"
    NO_EVENT_TYPE = "no_event_type"
    TOO_LARGE = "too_large"
    TOO_DEEP = "too_deep"  # JSON nested deeper than jsontext.MAX_DEPTH (orjson's own limit)
    KAFKA_REFUSED = "kafka_refused"  # Kafka refused the record for good (see kafka_errors)
    UNKNOWN_OSLO_VERSION = "unknown_oslo_version"  # an envelope oslo.messaging would refuse
    BRIDGE_ERROR = "bridge_error"  # the bridge itself failed on this body (a bug)


@dataclass(frozen=True, slots=True)
class DecodeError:
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Notification:
    """The parsed notification and its JSON text as received (the inner ``oslo.message``
    string, or the body itself for the un-enveloped form)."""

    message: dict[str, Any]
    text: str | bytes


def decode(body: bytes, max_bytes: int) -> Notification | DecodeError:
    """The notification (with a string ``event_type``), or a DecodeError."""
    if len(body) > max_bytes:
        return DecodeError(Reason.TOO_LARGE, f"{len(body)} bytes > limit {max_bytes}")
    try:
        outer = _loads(body)
    except orjson.JSONDecodeError as exc:
        return _not_json(body, exc)
    if not isinstance(outer, dict):
        return DecodeError(Reason.NOT_ENVELOPE, f"body is a JSON {type(outer).__name__}")
    if "oslo.message" in outer:
        version = outer.get("oslo.version")
        if not _compatible(version):
            detail = f"oslo.version {_show(version)} is not compatible with {_ENVELOPE_VERSION}"
            return DecodeError(Reason.UNKNOWN_OSLO_VERSION, detail)
        return _unwrap(outer["oslo.message"])
    if any(field in outer for field in _NOTIFICATION_FIELDS):
        return _checked(outer, body)
    return DecodeError(Reason.NOT_ENVELOPE, "neither an oslo envelope nor a notification")


def _compatible(version: Any) -> bool:
    """oslo.messaging's own test (``deserialize_msg``, ``version_is_compatible``): same major,
    minor and revision not above ours. Anything else oslo would refuse to unwrap; a new
    envelope version may mean a new format, so the bridge does not guess (a dead letter)."""
    if type(version) is not str or len(version) > 20:
        return False
    parts = version.split(".")
    if len(parts) > 3 or not all(p.isascii() and p.isdigit() for p in parts) or len(parts) < 2:
        return False
    major, minor, rev = (int(p) for p in [*parts, "0"][:3])
    return major == 2 and minor == 0 and rev == 0


def _show(value: Any) -> str:
    return repr(value)[:80]


def _loads(data: bytes | str) -> Any:
    """orjson; if it fails, the stdlib (big numbers); orjson's error if both fail."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return jsontext.loads(data.decode() if isinstance(data, bytes) else data)
        except (UnicodeDecodeError, jsontext.NotJson, RecursionError):
            pass
        raise


def _not_json(body: bytes, exc: orjson.JSONDecodeError) -> DecodeError:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        return DecodeError(Reason.NOT_UTF8, str(bad))
    if _too_deep(exc):
        return DecodeError(Reason.TOO_DEEP, f"nested deeper than {jsontext.MAX_DEPTH}: {exc}")
    return DecodeError(Reason.NOT_JSON, str(exc))


def _too_deep(exc: orjson.JSONDecodeError) -> bool:
    """orjson's depth limit (1024), which the stdlib's parser could not pass either."""
    return str(exc).startswith(_DEPTH_ERROR)


def _unwrap(inner: Any) -> Notification | DecodeError:
    if not isinstance(inner, str):
        return DecodeError(Reason.NOT_ENVELOPE, "oslo.message is not a string")
    try:
        message = _loads(inner)
    except orjson.JSONDecodeError as exc:
        if _too_deep(exc):
            return DecodeError(Reason.TOO_DEEP, f"oslo.message nested too deep: {exc}")
        return DecodeError(Reason.NOT_ENVELOPE, f"oslo.message is not JSON: {exc}")
    if not isinstance(message, dict):
        return DecodeError(Reason.NOT_ENVELOPE, "oslo.message is not a JSON object")
    return _checked(message, inner)


def _checked(message: dict[str, Any], text: str | bytes) -> Notification | DecodeError:
    event_type = message.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        return DecodeError(Reason.NO_EVENT_TYPE, "event_type missing or not a string")
    return Notification(message, text)
