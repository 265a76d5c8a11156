"""AMQP body -> the inner oslo.messaging notification, or the reason it cannot be one.

oslo.messaging (messagingv2) wraps every notification in an envelope
``{"oslo.version": "2.0", "oslo.message": "<the notification as a JSON string>"}``; older
publishers send the notification dict itself. Anything else is a dead letter, never dropped.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

_NOTIFICATION_FIELDS = ("event_type", "publisher_id", "payload", "message_id")


class Reason(StrEnum):
    """Why a body went to the DLQ; the value is the ``reason`` header and the metric label."""

    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_ENVELOPE = "not_envelope"
    NO_EVENT_TYPE = "no_event_type"
    TOO_LARGE = "too_large"
    BRIDGE_ERROR = "bridge_error"  # the bridge itself failed on this body (a bug); kept whole


@dataclass(frozen=True, slots=True)
class DecodeError:
    reason: Reason
    detail: str


def decode(body: bytes, max_bytes: int) -> dict[str, Any] | DecodeError:
    """The notification dict (with a string ``event_type``), or a DecodeError."""
    if len(body) > max_bytes:
        return DecodeError(Reason.TOO_LARGE, f"{len(body)} bytes > limit {max_bytes}")
    try:
        outer = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _not_json(body, exc)
    if not isinstance(outer, dict):
        return DecodeError(Reason.NOT_ENVELOPE, f"body is a JSON {type(outer).__name__}")
    if "oslo.message" in outer:
        return _unwrap(outer["oslo.message"])
    if any(field in outer for field in _NOTIFICATION_FIELDS):
        return _checked(outer)
    return DecodeError(Reason.NOT_ENVELOPE, "neither an oslo envelope nor a notification")


def _not_json(body: bytes, exc: orjson.JSONDecodeError) -> DecodeError:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        return DecodeError(Reason.NOT_UTF8, str(bad))
    return DecodeError(Reason.NOT_JSON, str(exc))


def _unwrap(inner: Any) -> dict[str, Any] | DecodeError:
    if not isinstance(inner, str):
        return DecodeError(Reason.NOT_ENVELOPE, "oslo.message is not a string")
    try:
        message = orjson.loads(inner)
    except orjson.JSONDecodeError as exc:
        return DecodeError(Reason.NOT_ENVELOPE, f"oslo.message is not JSON: {exc}")
    if not isinstance(message, dict):
        return DecodeError(Reason.NOT_ENVELOPE, "oslo.message is not a JSON object")
    return _checked(message)


def _checked(message: dict[str, Any]) -> dict[str, Any] | DecodeError:
    event_type = message.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        return DecodeError(Reason.NO_EVENT_TYPE, "event_type missing or not a string")
    return message
