"""The aggregation rules: pure functions over small JSON-able dicts, no faust or Kafka import.

An operation's state is split so that no write grows with the operation's size:

- a *summary* per operation (counts, capped failed-host list, per-image failure counts),
- a *host marker* per (operation, host), the de-duplication record,
- the *expected hosts* list from the start payload, written once.

Redelivery safety (at-least-once): the worker writes an operation's summary and *then* the host
markers of the hosts it newly counted, into one changelog partition, so after a crash the log
holds a prefix of the writes. A marker therefore implies its summary; the only markers that can
be missing are those of the last summary, which names their hosts in ``last_hosts`` (one host
per notification, or a batch's hosts: bounded by the batch, never by the operation). Nothing
depends on the order of input offsets, so a record faust delivers out of order after a
rebalance (faust-streaming#221) still counts exactly once.
"""

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.notifications import End, Notification, Progress, Start
from precache.natural import natural_key as natural_key  # re-exported: callers sort as rules do

Summary = dict[str, Any]
Marker = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Limits:
    grace_period_s: float = 30.0
    stall_after_s: float = 300.0
    failed_hosts_cap: int = 1000
    retention_s: float = 86_400.0


@dataclass(frozen=True, slots=True)
class Effect:
    """A derived event to emit; ``kind`` is status, completed, host_failed or stalled."""

    kind: str
    host: dict[str, Any] | None = None


@dataclass(slots=True)
class Step:
    """What applying one input does: writes (in this order) and events (emitted first)."""

    op_id: str
    summary: Summary | None = None
    expected: list[str] | None = None
    alias: tuple[str, str] | None = None
    markers: list[tuple[str, Marker]] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    note: str | None = None  # worth a log line: "late" input, completion with missing hosts


def operation_id(n: Notification, alias: str | None) -> str:
    """``{region}/{request_id}``; without a request id, region/aggregate/start-time."""
    if n.request_id:
        return f"{n.region}/{n.request_id}"
    if isinstance(n, Start):
        return f"{n.region}/{n.aggregate.uuid}/{n.timestamp}"
    return alias or f"{n.region}/{n.aggregate.uuid}/unknown"


def alias_key(n: Notification) -> str:
    return f"{n.region}/{n.aggregate.uuid}"


def new_summary(n: Notification, op_id: str, partition: int, now: float) -> Summary:
    agg = n.aggregate
    return {
        "operation_id": op_id,
        "request_id": n.request_id,
        "region": n.region,
        "aggregate": {"uuid": agg.uuid, "name": agg.name, "id": agg.id},
        "partition": partition,
        "images": [],
        "hosts_total": None,
        "hosts_reported": 0,
        "hosts_failed": 0,
        "failed_hosts": [],
        "image_failures": {},
        "missing_hosts": [],
        "state": "running",
        "outcome": None,
        "started_at": None,
        "first_at": n.timestamp,
        "updated_at": n.timestamp,
        "completed_at": None,
        "has_start": False,
        "end_wall": None,
        "activity_wall": now,
        "stall_wall": None,
        "stalls": 0,
        "version": 0,
        "last_hosts": [],
    }


def apply(
    n: Notification,
    offset: int,
    summary: Summary | None,
    marker: Marker | None,
    now: float,
    limits: Limits,
    partition: int = 0,
    op_id: str | None = None,
) -> Step:
    """Apply one notification (at ``offset``); ``marker`` is the host's marker for progress."""
    op_id = op_id or operation_id(n, None)
    s = dict(summary) if summary else new_summary(n, op_id, partition, now)
    if isinstance(n, Progress) and is_counted(n.host, marker, s):
        return _duplicate(n, offset, s, marker)
    step = Step(op_id=op_id)
    if s["state"] == "completed":
        if isinstance(n, Progress):
            step.note = "progress for an operation already completed: ignored"
        return step
    if isinstance(n, Progress):
        _count_progress(s, n, step, limits)
        step.markers.append((n.host, _marker(n, offset)))
    elif isinstance(n, Start):
        s["has_start"] = True
        s["started_at"] = n.timestamp
        s["hosts_total"] = s["hosts_total"] or len(n.hosts)
        step.expected = list(n.hosts)
    elif isinstance(n, End):
        s["end_wall"] = now
        s["hosts_total"] = s["hosts_total"] or len(n.hosts)
        step.expected = list(n.hosts)
    _touch(s, n, now)
    if s["hosts_total"] and s["hosts_reported"] >= s["hosts_total"]:
        _complete(s, [], step, limits, now)
    step.effects.append(Effect("status"))
    step.summary = s
    return step


def is_counted(host: str, marker: Marker | None, s: Summary) -> bool:
    """Counted: its marker exists, or the last summary write counted it (marker lost in a
    crash between the two writes)."""
    return marker is not None or host in s.get("last_hosts", ())


def _marker(n: Progress, offset: int) -> Marker:
    return {
        "o": offset,
        "f": list(n.images_failed),
        "c": list(n.images_cached),
        "at": n.timestamp,
    }


def _duplicate(n: Progress, offset: int, s: Summary, marker: Marker | None) -> Step:
    """Host already counted. The very record again (same offset) or a lost marker means a
    redelivery after a crash: repair the marker and re-emit its events with the same ids."""
    step = Step(op_id=s["operation_id"])
    if marker is None:
        marker = _marker(n, offset)
        step.markers.append((n.host, marker))
    elif marker["o"] != offset:
        return step  # a true duplicate: nothing to do
    if marker["f"]:
        step.effects.append(Effect("host_failed", host_failure(n.host, marker)))
    step.effects.append(Effect("status"))
    if s["state"] == "completed":
        step.effects.append(Effect("completed"))
    return step


def host_failure(host: str, marker: Marker, reason: str = "image_failed") -> dict[str, Any]:
    return {
        "host": host,
        "images_failed": marker["f"],
        "images_cached": marker["c"],
        "reason": reason,
        "at": marker["at"],
    }


def _count_progress(s: Summary, n: Progress, step: Step, limits: Limits) -> None:
    s["hosts_reported"] += 1
    s["hosts_total"] = max(s["hosts_total"] or 0, n.total)
    images = set(s["images"]).union(n.images_cached, n.images_failed)
    if len(images) != len(s["images"]):
        s["images"] = sorted(images)
    if s["state"] == "stalled":
        s["state"] = "running"
    if not n.images_failed:
        return
    s["hosts_failed"] += 1
    failures = dict(s["image_failures"])
    for image in set(n.images_failed):
        failures[image] = failures.get(image, 0) + 1
    s["image_failures"] = failures
    s["failed_hosts"] = capped_insert(s["failed_hosts"], n.host, limits.failed_hosts_cap)
    step.effects.append(Effect("host_failed", host_failure(n.host, _marker(n, 0))))


def capped_insert(hosts: list[str], host: str, cap: int) -> list[str]:
    """Insert in natural order, keep the first ``cap``: O(cap), never O(operation size).
    Idempotent, since the list may be persisted ahead of the summary that counts the host."""
    if host in hosts:
        return hosts
    out = list(hosts)
    bisect.insort(out, host, key=natural_key)
    return out[:cap]


def _touch(s: Summary, n: Notification, now: float) -> None:
    s["first_at"] = min(s["first_at"], n.timestamp)
    s["updated_at"] = max(s["updated_at"], n.timestamp)
    s["activity_wall"] = now
    s["version"] += 1


def _complete(s: Summary, missing: list[str], step: Step, limits: Limits, now: float) -> None:
    """Close the operation; ``missing`` hosts never reported and count as failed."""
    total = s["hosts_total"] or 0
    unnamed = max(total - s["hosts_reported"] - len(missing), 0)
    failed_now = len(missing) + unnamed
    s["hosts_failed"] += failed_now
    failed = s["failed_hosts"]
    for host in missing[: limits.failed_hosts_cap]:
        failed = capped_insert(failed, host, limits.failed_hosts_cap)
    s["failed_hosts"] = failed
    s["missing_hosts"] = sorted(missing, key=natural_key)[: limits.failed_hosts_cap]
    s["missing_count"] = failed_now
    s["state"] = "completed"
    s["outcome"] = outcome(s["hosts_failed"], total)
    s["completed_at"] = s["updated_at"]
    s["completed_wall"] = now  # the worker's clock: retention counts from here
    for host in missing:
        step.effects.append(Effect("host_failed", _no_report(host, s["updated_at"])))
    step.effects.append(Effect("completed"))


def _no_report(host: str, at: str) -> dict[str, Any]:
    return {"host": host, "images_failed": [], "images_cached": [], "reason": "no_report", "at": at}


def outcome(failed: int, total: int) -> str:
    if failed == 0:
        return "succeeded"
    return "failed" if failed >= total else "partial"


def tick(
    summary: Summary,
    now: float,
    limits: Limits,
    expected: Callable[[], list[str] | None],
    is_counted: Callable[[str], bool],
) -> Step | None:
    """Timer rules: complete after the grace period following ``.end``, or report a stall."""
    if summary["state"] == "completed":
        return None
    s = dict(summary)
    step = Step(op_id=s["operation_id"])
    if s["end_wall"] is not None and now - s["end_wall"] >= limits.grace_period_s:
        missing = missing_hosts(expected(), is_counted)
        _complete(s, missing, step, limits, now)
        step.note = f"completed after the grace period with {s['missing_count']} hosts missing"
    elif _stall_due(s, now, limits):
        s["state"] = "stalled"
        s["stalls"] += 1
        s["stall_wall"] = now
        step.effects.append(Effect("stalled"))
    else:
        return None
    s["version"] += 1
    step.effects.append(Effect("status"))
    step.summary = s
    return step


def _stall_due(s: Summary, now: float, limits: Limits) -> bool:
    if now - s["activity_wall"] < limits.stall_after_s:
        return False
    return s["state"] != "stalled" or bool(now - s["stall_wall"] >= limits.stall_after_s)


def missing_hosts(expected: Iterable[str] | None, is_counted: Callable[[str], bool]) -> list[str]:
    """Hosts of the start (or end) payload that never reported; O(n), once per operation."""
    return [h for h in dict.fromkeys(expected or ()) if not is_counted(h)]


def percent(s: Summary) -> float:
    total = s["hosts_total"] or 0
    if s["state"] == "completed":
        return 100.0
    return round(100.0 * s["hosts_reported"] / total, 2) if total else 0.0


def duration_s(s: Summary) -> float:
    """First to last notification, in Nova's clock."""
    first = datetime.fromisoformat(s["first_at"])
    last = datetime.fromisoformat(s["updated_at"])
    return round((last - first).total_seconds(), 6)
