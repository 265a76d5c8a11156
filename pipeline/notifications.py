"""Raw Kafka record -> typed start/progress/end notification, or a reason it is malformed.

Pure: no faust or Kafka import. This is the pipeline's edge: every field the rules read is
checked and normalised here (docs/pipeline-input.md lists each one), so the rules never meet a
value they cannot handle. Unused event types are recognised from the ``event_type`` header
alone, before any JSON is parsed.
"""

import re
import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

import orjson

from precache.region import region_problem

PREFIX = "aggregate.cache_images."
# other event types the worker reads, for the image cache inventory (pipeline.inventory_input)
INVENTORY_TYPES = frozenset(
    {
        "instance.create.end",
        "instance.rebuild.end",
        "aggregate.create.end",
        "aggregate.add_host.end",
        "aggregate.remove_host.end",
        "aggregate.update_metadata.end",
        "aggregate.delete.end",
    }
)
UNKNOWN_REGION = "unknown"
MAX_HOSTS = 1_000_000  # hosts of one operation, and so the largest valid ``total``
MAX_IMAGES = 1000  # per list (images_cached, images_failed)
MAX_TEXT = 255  # host names, image ids, region, request ids, aggregate uuid and name
MAX_AGGREGATE_ID = 2**63 - 1

# Nova's form (``str(datetime)``: no fraction when it is 0) or ISO's ``T``; an optional zone.
# ASCII digits only (``\d`` would take any script's digits); fullmatch, so nothing trails.
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)


def _bounded_repr() -> reprlib.Repr:
    shower = reprlib.Repr()  # Python 3.11: limits are attributes, not arguments
    shower.maxstring = shower.maxother = 80
    shower.maxlist = shower.maxdict = 4
    shower.maxlevel = 2
    return shower


_SHOW = _bounded_repr()


class MalformedNotification(ValueError):
    """The record claims to be a cache_images notification but cannot be used.

    ``reason`` is the dead-letter code (``bad_timestamp``, ...); ``str()`` is the detail.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


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
    timestamp: str  # canonical UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: string order is time order
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
    """Kafka headers as text. Bytes that are not UTF-8 are kept as lone surrogates
    (``surrogateescape``): never printable, so a region header made of them is rejected
    instead of silently becoming another region."""
    out: dict[str, str] = {}
    items = headers.items() if isinstance(headers, Mapping) else headers or ()
    for key, value in items:
        text = value.decode(errors="surrogateescape") if isinstance(value, bytes) else str(value)
        out[key] = text
    return out


def is_relevant(headers: Mapping[str, str]) -> bool:
    """Cheap filter: a record without a readable event_type header (absent, or not ASCII as
    every event type is) is parsed and judged by its value anyway."""
    event_type = headers.get("event_type")
    return (
        event_type is None
        or event_type.startswith(PREFIX)
        or event_type in INVENTORY_TYPES
        or not event_type.isascii()
    )


_PREFIX_BYTES = PREFIX.encode()
_INVENTORY_BYTES = frozenset(t.encode() for t in INVENTORY_TYPES)
_ABSENT = object()


def skippable(headers: Iterable[tuple[str, Any]] | None) -> bool:
    """``not is_relevant(header_map(headers))`` from the raw Kafka headers, decoding nothing:
    the worker's consumer drops such records before faust builds an event for them (see
    :mod:`pipeline.kafka_transport`). The last ``event_type`` header counts, as in
    :func:`header_map`."""
    event_type: Any = _ABSENT
    for key, value in headers or ():
        if key == "event_type":
            event_type = value
    if event_type is _ABSENT:
        return False
    if not isinstance(event_type, bytes):
        event_type = str(event_type).encode(errors="surrogateescape")
    return (
        event_type.isascii()
        and not event_type.startswith(_PREFIX_BYTES)
        and event_type not in _INVENTORY_BYTES
    )


def nova_time(value: Any) -> str:
    """``2026-11-23 19:04:24.662740`` (Nova: UTC, no zone) -> ``2026-11-23T19:04:24.662740Z``.

    ``T`` is accepted for the space, ``Z`` or ``+HH:MM`` for the zone (converted to UTC).
    Anything that is not a real time in that form raises ``bad_timestamp``.
    """
    if type(value) is not str or _TIME.fullmatch(value) is None:
        raise MalformedNotification("bad_timestamp", f"bad timestamp {_show(value)}")
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        elif len(value) == 26:  # Nova's usual form, now known to be a real time: no reformatting
            return f"{value[:10]}T{value[11:]}Z"
    except (ValueError, OverflowError) as exc:
        raise MalformedNotification("bad_timestamp", f"bad timestamp {value!r}: {exc}") from exc
    return moment.isoformat(timespec="microseconds") + "Z"


def parse(value: bytes | None, headers: Mapping[str, str]) -> Notification | None:
    """Return the notification, None when this pipeline does not use it, or raise Malformed."""
    if not is_relevant(headers):
        return None
    message = json_object(value)
    event_type = message.get("event_type")
    if type(event_type) is not str or not event_type.startswith(PREFIX):
        return None
    return _build(event_type.removeprefix(PREFIX), message, headers)


def json_object(value: bytes | None) -> dict[str, Any]:
    """The record's value as a JSON object, or ``not_json``/``not_object``: the first check of
    every notification the worker reads (cache_images here, the inventory's in
    ``pipeline.inventory_input``)."""
    try:
        message = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise MalformedNotification("not_json", f"value is not JSON: {exc}") from exc
    if type(message) is not dict:
        raise MalformedNotification("not_object", "value is not a JSON object")
    return message


def _build(kind: str, message: dict[str, Any], headers: Mapping[str, str]) -> Notification:
    if kind not in ("start", "progress", "end"):
        raise MalformedNotification("unknown_event", f"unknown cache_images event {_show(kind)}")
    data = _payload_data(message)
    common: dict[str, Any] = {
        "region": _region(headers.get("region")),
        "request_id": _request_id(message.get("_context_request_id"), "request id"),
        "global_request_id": _request_id(
            message.get("_context_global_request_id"), "global request id"
        ),
        "aggregate": _aggregate(data),
        "timestamp": nova_time(message.get("timestamp")),
        "message_id": _message_id(message.get("message_id")),
    }
    if kind == "progress":
        return Progress(kind=kind, **common, **_progress_fields(data))
    cls = Start if kind == "start" else End
    return cls(kind=kind, **common, hosts=_hosts(data.get("hosts", [])))


def _payload_data(message: dict[str, Any]) -> dict[str, Any]:
    payload = message.get("payload")
    data = payload.get("nova_object.data") if type(payload) is dict else None
    if type(data) is not dict:
        raise MalformedNotification("bad_payload", "payload has no nova_object.data object")
    return data


def _text(value: Any) -> TypeGuard[str]:
    """1..255 printable characters: no control or format character (terminal escapes)."""
    return type(value) is str and 0 < len(value) <= MAX_TEXT and value.isprintable()


def _all_text(values: list[Any]) -> bool:
    """``_text`` for every item, inlined: a start may list a million hosts."""
    for value in values:
        if not (type(value) is str and 0 < len(value) <= MAX_TEXT and value.isprintable()):
            return False
    return True


def _region(value: str | None) -> str:
    """No header: ``unknown`` (as before). No ``/``: it separates the operation id's parts."""
    if value is None:
        return UNKNOWN_REGION
    if type(value) is not str or region_problem(value) is not None:
        raise MalformedNotification("bad_region", f"bad region header {_show(value)}")
    return value


def _request_id(value: Any, what: str) -> str | None:
    """Absent, null or empty: None (no request id). Otherwise printable, <= 255 chars."""
    if value is None or value == "":
        return None
    if not _text(value):
        raise MalformedNotification("bad_request_id", f"bad {what} {_show(value)}")
    return value


def _message_id(value: Any) -> str | None:
    """Carried, never used by the rules: kept only when it is sane text."""
    return value if _text(value) else None


def _aggregate(data: dict[str, Any]) -> Aggregate:
    uuid, name, agg_id = data.get("uuid"), data.get("name"), data.get("id")
    if not _text(uuid) or "/" in uuid:
        raise MalformedNotification("bad_aggregate", f"bad aggregate uuid {_show(uuid)}")
    if name == "":
        name = None
    elif name is not None and not _text(name):
        raise MalformedNotification("bad_aggregate", f"bad aggregate name {_show(name)}")
    # orjson reads an integer above 64 bits as a float: rejected here, never rounded.
    if agg_id is not None and not (type(agg_id) is int and 0 <= agg_id <= MAX_AGGREGATE_ID):
        raise MalformedNotification("bad_aggregate", f"bad aggregate id {_show(agg_id)}")
    return Aggregate(uuid=uuid, name=name, id=agg_id)


def _progress_fields(data: dict[str, Any]) -> dict[str, Any]:
    host, total, index = data.get("host"), data.get("total"), data.get("index")
    if not _text(host):
        raise MalformedNotification("bad_host", f"bad progress host {_show(host)}")
    if type(total) is not int or not 1 <= total <= MAX_HOSTS:
        raise MalformedNotification("bad_total", f"bad progress total {_show(total)}")
    cached = _images(data.get("images_cached", []), "images_cached")
    failed = _images(data.get("images_failed", []), "images_failed")
    if not set(cached).isdisjoint(failed):
        raise MalformedNotification("bad_images", "an image is both cached and failed")
    return {
        "host": host,
        "total": total,
        "index": index if type(index) is int and 1 <= index <= MAX_HOSTS else None,
        "images_cached": cached,
        "images_failed": failed,
    }


def _hosts(value: Any) -> tuple[str, ...]:
    """A start/end host list. Empty is valid here: the rules dead-letter it (``no_hosts``)."""
    if type(value) is not list or len(value) > MAX_HOSTS:
        raise MalformedNotification("bad_hosts", f"hosts is not a list of hosts {_show(value)}")
    if not _all_text(value):
        bad = next(h for h in value if not _text(h))
        raise MalformedNotification("bad_hosts", f"bad host in hosts {_show(bad)}")
    if len(set(value)) != len(value):
        raise MalformedNotification("duplicate_host", f"hosts names a host twice {_dup(value)}")
    return tuple(value)


def _images(value: Any, name: str) -> tuple[str, ...]:
    if type(value) is not list or len(value) > MAX_IMAGES:
        raise MalformedNotification("bad_images", f"{name} is not a list of images")
    if not _all_text(value):
        bad = next(i for i in value if not _text(i))
        raise MalformedNotification("bad_images", f"bad image in {name} {_show(bad)}")
    if len(set(value)) != len(value):
        raise MalformedNotification("bad_images", f"{name} names an image twice")
    return tuple(value)


def _dup(hosts: list[str]) -> str:
    seen: set[str] = set()
    for host in hosts:
        if host in seen:
            return _show(host)
        seen.add(host)
    return ""


def _show(value: Any) -> str:
    """A bounded repr for error details: a bad value may be megabytes long."""
    try:
        return _SHOW.repr(value)
    except ValueError:  # an int beyond the str conversion limit (never from orjson)
        return f"<{type(value).__name__}>"
