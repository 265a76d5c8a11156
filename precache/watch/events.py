"""The derived CloudEvents the watcher reads, decoded into typed records.

The contract (issue 4): CloudEvents 1.0 in JSON structured mode, ``subject`` = operation id.
Unknown fields are ignored so the pipeline can add some; an event we cannot use is skipped
with a warning instead of stopping the watch.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import orjson
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from precache.watch.escape import printable

log = structlog.get_logger(__name__)


class EventType(StrEnum):
    STATUS = "precache.operation.status"
    COMPLETED = "precache.operation.completed"
    HOST_FAILED = "precache.host.failed"
    STALLED = "precache.operation.stalled"


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Aggregate(_Data):
    uuid: str | None = None
    name: str | None = None
    id: int | None = None


class Snapshot(_Data):
    """``data`` of status, completed and stalled events: one operation's state."""

    operation_id: str
    request_id: str | None = None
    global_request_id: str | None = None  # the client's id; absent from older pipelines
    region: str | None = None
    aggregate: Aggregate = Field(default_factory=Aggregate)
    images: list[str] = Field(default_factory=list)
    hosts_total: int = 0
    hosts_reported: int = 0
    hosts_failed: int = 0
    percent: float = 0.0
    failed_hosts: list[str] = Field(default_factory=list)
    failed_hosts_truncated: bool = False
    image_failures: dict[str, int] = Field(default_factory=dict)
    missing_hosts: list[str] = Field(default_factory=list)
    state: Literal["running", "stalled", "completed"]
    outcome: Literal["succeeded", "partial", "failed"] | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    duration_s: float | None = None


class HostFailure(_Data):
    """``data`` of a host.failed event: one host of one operation."""

    operation_id: str
    request_id: str | None = None
    global_request_id: str | None = None
    region: str | None = None
    aggregate: Aggregate = Field(default_factory=Aggregate)
    host: str
    images_failed: list[str] = Field(default_factory=list)
    images_cached: list[str] = Field(default_factory=list)
    reason: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Event:
    """One decoded CloudEvent; ``raw`` is kept as read, for ``--json``."""

    id: str
    type: EventType
    data: Snapshot | HostFailure
    raw: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return self.data.operation_id


def decode(value: bytes | None) -> Event | None:
    """A Kafka record value -> Event, or None (logged) when it is not one we can use."""
    try:
        raw = orjson.loads(value or b"")
        kind = EventType(raw["type"])
        model = HostFailure if kind is EventType.HOST_FAILED else Snapshot
        return Event(id=str(raw["id"]), type=kind, data=model.model_validate(raw["data"]), raw=raw)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ValidationError) as exc:
        log.warning("skipped an event the watcher cannot read", error=printable(str(exc)[:200]))
        return None
