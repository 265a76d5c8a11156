"""Typed models of the derived CloudEvents: the contract downstream consumers build on.

The worker builds every event through these models (so it cannot publish one that breaks the
contract), except ``precache.image.cache``, one per changed inventory entry, which it writes
with orjson: a property test holds those bytes equal to the model's
(``pipeline/inventory_events.py``). The watcher and the tests read them with the same models,
and ``schemas/`` is generated from them (``python -m precache.contract.schemas``).

Compatibility rules: a reader ignores fields it does not know (``extra="ignore"``), so adding a
field is a compatible change; removing or retyping one is not, and changes ``schemas/``.
Times are UTC text ending in ``Z``; the worker always writes them canonical,
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (six fraction digits), so their string order is time order.
They stay text in the models, checked by a pattern (pydantic's Rust core, no Python call per
field: the worker builds an event per changed operation per batch); :func:`parse_time` turns
one into a ``datetime`` for a reader that computes with it.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

TIME_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"


def canonical_time(at: datetime) -> str:
    """``at`` as the worker writes times: UTC, microseconds, ``Z``."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """A contract time (any number of fraction digits) as an aware UTC ``datetime``."""
    return datetime.fromisoformat(text)


Timestamp: TypeAlias = Annotated[str, Field(pattern=TIME_PATTERN)]
Count = Annotated[int, Field(ge=0)]
Names = list[str]


class EventType(StrEnum):
    """The ``type`` of each derived event; each has its own topic."""

    STATUS = "precache.operation.status"
    COMPLETED = "precache.operation.completed"
    HOST_FAILED = "precache.host.failed"
    STALLED = "precache.operation.stalled"
    IMAGE_CACHE = "precache.image.cache"
    ROLLOUT_REQUEST = "precache.rollout.request"
    ROLLOUT_TARGET = "precache.rollout.target"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Aggregate(_Model):
    """The aggregate the images were cached on, as Nova named it in the notification."""

    uuid: Annotated[str, Field(min_length=1)]
    name: str | None
    id: int | None


class _OperationRef(_Model):
    operation_id: Annotated[
        str, Field(min_length=1, description="{region}/{aggregate uuid}/{request id}")
    ]
    request_id: str | None = Field(description="Nova's request id (x-openstack-request-id)")
    global_request_id: str | None = Field(description="the client's global request id")
    region: str
    aggregate: Aggregate


class OperationData(_OperationRef):
    """``data`` of status, completed and stalled events: one operation's state."""

    images: Names
    images_truncated: bool
    hosts_total: Count
    hosts_reported: Count
    hosts_failed: Count
    hosts_held: Count = Field(description="progress kept apart until the host list is known")
    percent: Annotated[float, Field(ge=0, le=100)]
    failed_hosts: Names
    failed_hosts_truncated: bool
    image_failures: dict[str, Annotated[int, Field(ge=1)]]
    image_failures_truncated: bool
    missing_hosts: Names
    missing_hosts_truncated: bool
    state: Literal["running", "stalled", "completed"]
    outcome: Literal["succeeded", "partial", "failed"] | None
    started_at: Timestamp
    updated_at: Timestamp
    completed_at: Timestamp | None
    duration_s: Annotated[float, Field(ge=0)]
    stalls: Count
    version: Count = Field(description="grows with every change of the operation's state")


class HostFailedData(_OperationRef):
    """``data`` of a host.failed event: one host of one operation."""

    host: Annotated[str, Field(min_length=1)]
    images_failed: Names
    images_failed_truncated: bool
    images_cached: Names
    images_cached_truncated: bool
    reason: Literal["image_failed", "no_report"]
    at: Timestamp


class CloudEvent(_Model):
    """The CloudEvents 1.0 envelope (JSON format) shared by every derived event."""

    specversion: Literal["1.0"]
    id: UUID = Field(description="deterministic: a redelivered event keeps its id")
    source: Annotated[str, Field(pattern=r"^/precache/.+")]
    subject: Annotated[str, Field(min_length=1, description="the operation id")]
    time: Timestamp
    datacontenttype: Literal["application/json"]
    partitionkey: Annotated[
        str, Field(min_length=1, description="the operation id, also the Kafka record key")
    ]


class StatusEvent(CloudEvent):
    """The operation's state after a change; the status topic is compacted by operation."""

    type: Literal[EventType.STATUS]
    data: OperationData


class CompletedEvent(CloudEvent):
    """Every host reported, or Nova's ``.end`` and the grace period passed: once per operation."""

    type: Literal[EventType.COMPLETED]
    data: OperationData


class StalledEvent(CloudEvent):
    """No notification for the stall period while hosts are still missing."""

    type: Literal[EventType.STALLED]
    data: OperationData


class HostFailedEvent(CloudEvent):
    """One host failed an image, or never reported before completion (``no_report``)."""

    type: Literal[EventType.HOST_FAILED]
    data: HostFailedData


class ImageCacheData(_Model):
    """``data`` of an image.cache event: one image on one host, after a change."""

    region: str
    host: Annotated[str, Field(min_length=1)]
    image: Annotated[str, Field(min_length=1)]
    state: Literal["cached", "failed"]
    reason: str | None = Field(
        description="why the newest report failed, where Nova says (reported_failed: listed in "
        "images_failed, whatever the cause); null when cached"
    )
    touched_at: Timestamp = Field(description="the newest touch or failure report seen")
    cached_at: Timestamp | None = Field(description="the newest touch that left it cached")
    expires_at: Timestamp | None = Field(
        description="cached_at + min age: Nova may remove it from then on, unless an instance "
        "uses it; null: never cached, or never removed (manager_interval -1)"
    )
    gone_by: Timestamp | None = Field(description="expires_at + one cache manager interval")
    operation_id: str | None = Field(description="the pre-cache that last touched it, if any")
    request_id: str | None
    source: str = Field(description="the Nova event type of the newest touch")


class ImageCacheEvent(CloudEvent):
    """One (region, host, image) of the inventory after a change; the topic is compacted by
    ``region/host/image`` (the Kafka key), so its last record per key is the current state."""

    type: Literal[EventType.IMAGE_CACHE]
    subject: Annotated[str, Field(min_length=1, description="region/host/image")]
    partitionkey: Annotated[
        str, Field(min_length=1, description="region/host/image, also the Kafka record key")
    ]
    data: ImageCacheData


class _RolloutRef(_Model):
    mode: Literal["rollout", "keep-warm"] = Field(description="which command")
    region: Annotated[str, Field(min_length=1)]
    aggregate: Aggregate
    reasons: list[str] = Field(
        description="why, as the plan says it: missing on 3 hosts, failed last time on 2 hosts, "
        "expires in 1h40m on 5 hosts"
    )
    goal: str | None = Field(
        None,
        description="digest of what the command wants of the target: its mode, the image ids "
        "and the gate (share of hosts, for how long); not the pace. A retry series goes on "
        "only under one goal; null from versions before it",
    )


class RolloutRequestData(_RolloutRef):
    """``data`` of a rollout.request event: one pre-cache request Nova accepted."""

    cloud: Annotated[str, Field(min_length=1, description="the clouds.yaml entry")]
    images: Annotated[list[str], Field(min_length=1, description="image ids asked for")]
    attempt: Annotated[int, Field(ge=1, description="1, then 2 for the first retry, ...")]
    request_id: str | None = Field(description="Nova's request id: the operation to follow")
    global_request_id: str
    at: Timestamp


class RolloutTargetData(_RolloutRef):
    """``data`` of a rollout.target event: a target became ready, or failed its gate."""

    state: Literal["ready", "failed"]
    images: list[str] = Field(description="image ids that fall short (none when ready)")
    at: Timestamp


class RolloutRequestEvent(CloudEvent):
    """``precache rollout`` or ``keep-warm`` asked Nova to pre-cache images on an aggregate;
    key ``region/aggregate uuid``."""

    type: Literal[EventType.ROLLOUT_REQUEST]
    subject: Annotated[str, Field(min_length=1, description="region/aggregate uuid")]
    partitionkey: Annotated[
        str, Field(min_length=1, description="region/aggregate uuid, also the Kafka record key")
    ]
    data: RolloutRequestData


class RolloutTargetEvent(CloudEvent):
    """A rollout target's gate now holds (ready) or failed after the retries; key
    ``region/aggregate uuid``."""

    type: Literal[EventType.ROLLOUT_TARGET]
    subject: Annotated[str, Field(min_length=1, description="region/aggregate uuid")]
    partitionkey: Annotated[
        str, Field(min_length=1, description="region/aggregate uuid, also the Kafka record key")
    ]
    data: RolloutTargetData


DerivedEvent: TypeAlias = Annotated[  # the operation topics' events (the watcher's input)
    StatusEvent | CompletedEvent | StalledEvent | HostFailedEvent, Field(discriminator="type")
]
MODELS: dict[EventType, type[CloudEvent]] = {
    EventType.STATUS: StatusEvent,
    EventType.COMPLETED: CompletedEvent,
    EventType.STALLED: StalledEvent,
    EventType.HOST_FAILED: HostFailedEvent,
    EventType.IMAGE_CACHE: ImageCacheEvent,
    EventType.ROLLOUT_REQUEST: RolloutRequestEvent,
    EventType.ROLLOUT_TARGET: RolloutTargetEvent,
}
_ADAPTER: TypeAdapter[DerivedEvent] = TypeAdapter(DerivedEvent)


class InvalidEvent(ValueError):
    """A value that is not a derived event of the contract; ``str()`` says which field."""


def decode(value: bytes | str | dict[str, Any]) -> DerivedEvent:
    """A record value (JSON) or a decoded dict -> its typed event, or :class:`InvalidEvent`."""
    try:
        if isinstance(value, dict):
            return _ADAPTER.validate_python(value)
        return _ADAPTER.validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise InvalidEvent(f"{where}: {first['msg']}") from None


def encode(event: CloudEvent) -> bytes:
    """The event's JSON bytes as published (structured mode)."""
    return event.model_dump_json().encode()
