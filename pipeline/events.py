"""The worker's derived events, built through the contract's models; ids are deterministic.

Every event fits ``Limits.event_bytes``: each list in ``data`` is capped (by count and by
``Limits.list_bytes`` JSON bytes) with its own ``*_truncated`` flag, and :func:`encode`
refuses an event over the budget (the agent then dead-letters the record that produced it).
"""

import uuid
from typing import Any

from precache import contract
from precache.contract import (
    CloudEvent,
    CompletedEvent,
    EventType,
    HostFailedData,
    HostFailedEvent,
    OperationData,
    StalledEvent,
    StatusEvent,
)
from precache.pipeline.operation import (
    Effect,
    HostFailure,
    Limits,
    Summary,
    cap_list,
    duration_s,
    json_len,
    percent,
)
from precache.pipeline.operation import span as time_span

NAMESPACE = uuid.UUID("6f1f4c59-8a53-4a8e-9d40-6c0f1c3b7a10")
TYPES = {
    "status": EventType.STATUS,
    "completed": EventType.COMPLETED,
    "host_failed": EventType.HOST_FAILED,
    "stalled": EventType.STALLED,
}
DEFAULT_LIMITS = Limits()


class EventTooLarge(ValueError):
    """An event over ``Limits.event_bytes`` even with its lists capped."""


def event_id(op_id: str, kind: str, sequence: str) -> str:
    """Same operation + type + sequence -> same id, so a redelivery can be de-duplicated."""
    return str(uuid.uuid5(NAMESPACE, f"{op_id}|{kind}|{sequence}"))


def _reference(s: Summary) -> dict[str, Any]:
    """The fields naming the operation, the same in every event's ``data``."""
    return {
        "operation_id": s["operation_id"],
        "request_id": s["request_id"],
        "global_request_id": s.get("global_request_id"),
        "region": s["region"],
        "aggregate": s["aggregate"],
    }


def operation_data(s: Summary, limits: Limits = DEFAULT_LIMITS) -> OperationData:
    """The status/completed/stalled ``data``."""
    failed_hosts, cut_failed = cap_list(s["failed_hosts"], limits, limits.list_bytes)
    missing, cut_missing = cap_list(s["missing_hosts"], limits, limits.list_bytes)
    images, cut_images = cap_list(s["images"], limits, limits.list_bytes)
    failures, cut_failures = _cap_counts(s["image_failures"], limits)
    started, updated = time_span(s)
    return OperationData(
        **_reference(s),
        images=images,
        images_truncated=cut_images or bool(s.get("images_truncated")),
        hosts_total=s["hosts_total"] or 0,
        hosts_reported=s["hosts_reported"],
        hosts_failed=s["hosts_failed"],
        hosts_held=s.get("hosts_held", 0),
        percent=percent(s),
        failed_hosts=failed_hosts,
        failed_hosts_truncated=cut_failed or s["hosts_failed"] > len(failed_hosts),
        image_failures=failures,
        image_failures_truncated=cut_failures,
        missing_hosts=missing,
        missing_hosts_truncated=cut_missing or s.get("missing_count", 0) > len(missing),
        state=s["state"],
        outcome=s["outcome"],
        started_at=s["started_at"] or started,
        updated_at=updated,
        completed_at=s["completed_at"],
        duration_s=duration_s(s),
        stalls=s["stalls"],
        version=s["version"],
    )


def _cap_counts(counts: dict[str, int], limits: Limits) -> tuple[dict[str, int], bool]:
    out: dict[str, int] = {}
    size = 2
    for image, n in counts.items():
        size += json_len(image) + len(str(n)) + 1
        if size > limits.list_bytes or len(out) >= limits.failed_hosts_cap:
            return out, True
        out[image] = n
    return out, False


def host_data(s: Summary, host: HostFailure, limits: Limits) -> HostFailedData:
    failed, cut_failed = cap_list(host["images_failed"], limits, limits.list_bytes)
    cached, cut_cached = cap_list(host["images_cached"], limits, limits.list_bytes)
    return HostFailedData(
        **_reference(s),
        host=host["host"],
        images_failed=failed,
        images_failed_truncated=cut_failed,
        images_cached=cached,
        images_cached_truncated=cut_cached,
        reason=host["reason"],
        at=host["at"],
    )


def _sequence(s: Summary, effect: Effect) -> str:
    if effect.kind == "status":
        return str(s["version"])
    if effect.kind == "stalled":
        return str(s["stalls"])
    if effect.kind == "host_failed" and effect.host is not None:
        return str(effect.host["host"])
    return "final"


def build(s: Summary, effect: Effect, limits: Limits = DEFAULT_LIMITS) -> CloudEvent:
    """One CloudEvent for ``effect`` on operation ``s``; ``time`` is Nova's, so it is stable.

    Built through the contract's models: an event that would break the contract raises here
    (pydantic's ValidationError), and the agent dead-letters the record that produced it.
    """
    op_id = s["operation_id"]
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id(op_id, effect.kind, _sequence(s, effect)),
        "source": f"/precache/{s['region']}",
        "subject": op_id,
        "datacontenttype": "application/json",
        "partitionkey": op_id,
    }
    if effect.kind == "host_failed" and effect.host is not None:
        host = host_data(s, effect.host, limits)
        return HostFailedEvent(**envelope, type=EventType.HOST_FAILED, data=host, time=host.at)
    data = operation_data(s, limits)
    model = _OPERATION_EVENTS[effect.kind]
    return model(**envelope, type=TYPES[effect.kind], data=data, time=data.updated_at)


_OPERATION_EVENTS: dict[str, type[StatusEvent | CompletedEvent | StalledEvent]] = {
    "status": StatusEvent,
    "completed": CompletedEvent,
    "stalled": StalledEvent,
}


def encode(s: Summary, effect: Effect, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The event as bytes, at most ``limits.event_bytes`` (or :class:`EventTooLarge`)."""
    value = contract.encode(build(s, effect, limits))
    if len(value) > limits.event_bytes:
        raise EventTooLarge(f"{effect.kind} event of {len(value)} bytes > {limits.event_bytes}")
    return value
