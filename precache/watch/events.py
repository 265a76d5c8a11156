"""The derived CloudEvents the watcher reads, decoded with the contract's models.

An event that breaks the contract (docs/events.md) is skipped with a warning instead of stopping
the watch; fields the watcher does not know are ignored, so the pipeline can add some.
"""

from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from precache.contract import EventType, HostFailedData, InvalidEvent, OperationData, decode
from precache.watch.escape import printable

log = structlog.get_logger(__name__)

__all__ = ["Event", "EventType", "HostFailedData", "OperationData", "read"]


@dataclass(frozen=True)
class Event:
    """One decoded CloudEvent; ``raw`` is kept as read, for ``--json``."""

    id: str
    type: EventType
    data: OperationData | HostFailedData
    raw: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return self.data.operation_id


def read(value: bytes | None) -> Event | None:
    """A Kafka record value -> Event, or None (logged) when it is not one we can use."""
    try:
        raw = orjson.loads(value or b"")
        event = decode(raw)
    except (orjson.JSONDecodeError, InvalidEvent) as exc:
        log.warning("skipped an event the watcher cannot read", error=printable(str(exc)[:200]))
        return None
    return Event(id=str(event.id), type=EventType(event.type), data=event.data, raw=raw)
