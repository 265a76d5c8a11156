"""Raw Kafka record -> typed start/progress/end notification, or a reason it is malformed.

Pure: no faust or Kafka import. Unused event types are recognised from the ``event_type`` header
alone, before any JSON is parsed.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

PREFIX = "aggregate.cache_images."
UNKNOWN_REGION = "unknown"


class MalformedNotification(ValueError):
    """The record claims to be a cache_images notification but cannot be used; says why."""


@dataclass(frozen=True, slots=True)
class Aggregate:
    uuid: str
    name: str | None
    id: int | None


@dataclass(frozen=True, slots=True)
class Notification:
    """Fields every cache_images notification shares."""

    kind: str  # "start" | "progress" | "end"
    region: str
    request_id: str | None
    aggregate: Aggregate
    timestamp: str  # RFC 3339 UTC, from Nova's timestamp
    message_id: str | None
    global_request_id: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Start(Notification):
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class End(Notification):
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Progress(Notification):
    host: str
    total: int
    index: int | None
    images_cached: tuple[str, ...]
    images_failed: tuple[str, ...]


def header_map(
    headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None,
) -> dict[str, str]:
    """Kafka headers as text; undecodable values are dropped rather than crash the worker."""
    out: dict[str, str] = {}
    items = headers.items() if isinstance(headers, Mapping) else headers or ()
    for key, value in items:
        try:
            out[key] = value.decode() if isinstance(value, bytes) else str(value)
        except UnicodeDecodeError:
            continue
    return out


def is_relevant(headers: Mapping[str, str]) -> bool:
    """Cheap filter: a record without an event_type header is parsed (and judged) anyway."""
    event_type = headers.get("event_type")
    return event_type is None or event_type.startswith(PREFIX)


def nova_time(value: Any) -> str:
    """``2026-11-23 19:04:24.662740`` (UTC, no zone) -> ``2026-11-23T19:04:24.662740Z``."""
    if not isinstance(value, str) or len(value) < 19 or value[4] != "-":
        raise MalformedNotification(f"bad timestamp {value!r}")
    text = value.replace(" ", "T", 1)
    if text.endswith("Z") or "+" in text[10:]:
        return text.removesuffix("+00:00").removesuffix("Z") + "Z"
    return text + "Z"


def parse(value: bytes | None, headers: Mapping[str, str]) -> Notification | None:
    """Return the notification, None when this pipeline does not use it, or raise Malformed."""
    if not is_relevant(headers):
        return None
    try:
        message = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise MalformedNotification(f"value is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise MalformedNotification("value is not a JSON object")
    event_type = message.get("event_type")
    if not isinstance(event_type, str) or not event_type.startswith(PREFIX):
        return None
    return _build(event_type.removeprefix(PREFIX), message, headers)


def _build(kind: str, message: dict[str, Any], headers: Mapping[str, str]) -> Notification:
    data = _payload_data(message)
    common: dict[str, Any] = {
        "region": headers.get("region") or UNKNOWN_REGION,
        "request_id": _opt_str(message.get("_context_request_id")),
        "aggregate": _aggregate(data),
        "timestamp": nova_time(message.get("timestamp")),
        "message_id": _opt_str(message.get("message_id")),
        "global_request_id": _opt_str(message.get("_context_global_request_id")),
    }
    if kind == "progress":
        return Progress(kind=kind, **common, **_progress_fields(data))
    if kind in ("start", "end"):
        cls = Start if kind == "start" else End
        return cls(kind=kind, **common, hosts=_str_tuple(data.get("hosts", []), "hosts"))
    raise MalformedNotification(f"unknown cache_images event {kind!r}")


def _payload_data(message: dict[str, Any]) -> dict[str, Any]:
    payload = message.get("payload")
    data = payload.get("nova_object.data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise MalformedNotification("payload has no nova_object.data object")
    return data


def _aggregate(data: dict[str, Any]) -> Aggregate:
    uuid = data.get("uuid")
    if not isinstance(uuid, str) or not uuid:
        raise MalformedNotification("payload has no aggregate uuid")
    agg_id = data.get("id")
    return Aggregate(
        uuid=uuid,
        name=_opt_str(data.get("name")),
        id=agg_id if isinstance(agg_id, int) and not isinstance(agg_id, bool) else None,
    )


def _progress_fields(data: dict[str, Any]) -> dict[str, Any]:
    host, total, index = data.get("host"), data.get("total"), data.get("index")
    if not isinstance(host, str) or not host:
        raise MalformedNotification("progress has no host")
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        raise MalformedNotification(f"progress has bad total {total!r}")
    return {
        "host": host,
        "total": total,
        "index": index if isinstance(index, int) else None,
        "images_cached": _str_tuple(data.get("images_cached", []), "images_cached"),
        "images_failed": _str_tuple(data.get("images_failed", []), "images_failed"),
    }


def _str_tuple(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedNotification(f"{name} is not a list of strings")
    return tuple(value)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
