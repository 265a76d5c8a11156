"""CloudEvents 1.0 (structured JSON) builders for the derived topics; ids are deterministic."""

import uuid
from typing import Any

from pipeline.operation import Effect, Summary, duration_s, percent

NAMESPACE = uuid.UUID("6f1f4c59-8a53-4a8e-9d40-6c0f1c3b7a10")
TYPES = {
    "status": "precache.operation.status",
    "completed": "precache.operation.completed",
    "host_failed": "precache.host.failed",
    "stalled": "precache.operation.stalled",
}


def event_id(op_id: str, kind: str, sequence: str) -> str:
    """Same operation + type + sequence -> same id, so a redelivery can be de-duplicated."""
    return str(uuid.uuid5(NAMESPACE, f"{op_id}|{kind}|{sequence}"))


def operation_data(s: Summary) -> dict[str, Any]:
    """The status/completed/stalled ``data``: the contract in schemas/."""
    failed_hosts: list[str] = s["failed_hosts"]
    return {
        "operation_id": s["operation_id"],
        "request_id": s["request_id"],
        "region": s["region"],
        "aggregate": s["aggregate"],
        "images": s["images"],
        "hosts_total": s["hosts_total"] or 0,
        "hosts_reported": s["hosts_reported"],
        "hosts_failed": s["hosts_failed"],
        "percent": percent(s),
        "failed_hosts": failed_hosts,
        "failed_hosts_truncated": s["hosts_failed"] > len(failed_hosts),
        "image_failures": s["image_failures"],
        "missing_hosts": s["missing_hosts"],
        "state": s["state"],
        "outcome": s["outcome"],
        "started_at": s["started_at"] or s["first_at"],
        "updated_at": s["updated_at"],
        "completed_at": s["completed_at"],
        "duration_s": duration_s(s),
        "stalls": s["stalls"],
        "version": s["version"],
    }


def _sequence(s: Summary, effect: Effect) -> str:
    if effect.kind == "status":
        return str(s["version"])
    if effect.kind == "stalled":
        return str(s["stalls"])
    if effect.kind == "host_failed" and effect.host is not None:
        return str(effect.host["host"])
    return "final"


def build(s: Summary, effect: Effect) -> dict[str, Any]:
    """One CloudEvent for ``effect`` on operation ``s``; ``time`` is Nova's, so it is stable."""
    time = s["updated_at"]
    if effect.kind == "host_failed" and effect.host is not None:
        data: dict[str, Any] = {
            "operation_id": s["operation_id"],
            "request_id": s["request_id"],
            "region": s["region"],
            "aggregate": s["aggregate"],
            **effect.host,
        }
        time = effect.host["at"]
    else:
        data = operation_data(s)
    return {
        "specversion": "1.0",
        "id": event_id(s["operation_id"], effect.kind, _sequence(s, effect)),
        "source": f"/precache/{s['region']}",
        "type": TYPES[effect.kind],
        "subject": s["operation_id"],
        "time": time,
        "datacontenttype": "application/json",
        "data": data,
    }
