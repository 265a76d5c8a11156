"""The aggregation rules: pure functions over small JSON-able dicts, no faust or Kafka import.

The rules R1-R9 (docs/pipeline-rules.md) in one place. An operation's state is split so that no
write grows with the operation's size:

- a *summary* per operation (counts, capped failed-host list, per-image failure counts),
- a *host marker* per (operation, host), the de-duplication record,
- the *expected hosts*: the operation's host list (R3), written once,
- *held* progress (R5): progress that came before any host list, kept apart as markers under
  a key that cannot be a host name (:data:`HELD`), resolved in arrival order when a list comes.

Redelivery safety (at-least-once): the worker writes an operation's summary and *then* the host
markers of the hosts it newly counted (held entries included), into one changelog partition, so
after a crash the log holds a prefix of the writes. A marker therefore implies its summary; the
only markers that can be missing are those of the last summary, which names their keys in
``last_hosts`` (one host per notification, or a batch's hosts: bounded by the batch, never by
the operation). Nothing depends on the order of input offsets, so a record faust delivers out
of order after a rebalance (faust-streaming#221) still counts exactly once.

A step is computed without side effects: a record whose step or events raise is dead-lettered
by the agent and the batch's state is as if it had never been applied.
"""

import bisect
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict, cast

import orjson

from precache.natural import natural_key as natural_key  # re-exported: callers sort as rules do
from precache.pipeline.notifications import End, Notification, Progress, Start

State = Literal["running", "stalled", "completed"]


class AggregateRef(TypedDict):
    uuid: str
    name: str | None
    id: int | None


class Summary(TypedDict):
    """An operation's summary record (the changelog keeps it as plain JSON: no runtime cost).

    Times ending ``_at`` are the notifications' canonical UTC strings (string order is time
    order); ``_wall`` ones are the worker's clock (epoch seconds).
    """

    operation_id: str
    request_id: str | None
    global_request_id: str | None
    region: str
    aggregate: AggregateRef
    partition: int
    images: list[str]
    images_truncated: bool
    hosts_total: int | None  # the host list's length once one is known (R3)
    hosts_reported: int
    hosts_failed: int
    hosts_held: int
    failed_hosts: list[str]  # capped; stored apart from the summary (pipeline.store)
    image_failures: dict[str, int]
    missing_hosts: list[str]
    state: State
    outcome: str | None
    started_at: str | None
    first_at: str | None  # min/max over applied notifications (R8)
    updated_at: str | None
    seen_at: str  # first notification, applied or held: shown until one applies
    completed_at: str | None
    has_start: bool
    end_wall: float | None
    activity_wall: float
    stall_wall: float | None
    stalls: int
    version: int
    last_hosts: list[str]  # hosts (or held keys) the last write counted (module doc)
    missing_count: NotRequired[int]  # set at completion
    completed_wall: NotRequired[float]  # set at completion: retention counts from here
    quarantined: NotRequired[str]  # its timer rules raised: the error, frozen
    marker_chunks: NotRequired[int]  # marker records written (pipeline.engine)


class Marker(TypedDict):
    """A counted host: the offset that counted it, images failed and cached, when."""

    o: int
    f: list[str]
    c: list[str]
    at: str


class RawKept(TypedDict):
    """What a held progress keeps of its record to dead-letter it later (:func:`hold_entry`)."""

    v: str
    h: list[tuple[str, str]]  # [key, value] lists once read back from the changelog


class DeadEntry(TypedDict):
    """What the dead letter of a kept record needs: its offset, and its value and headers
    when they were kept (:class:`RawKept`). A :class:`HeldEntry` is one."""

    o: int
    v: NotRequired[str]
    h: NotRequired[list[tuple[str, str]]]


class HeldEntry(Marker):
    """Progress held before any host list (R5), under a :data:`HELD` key among the markers."""

    host: str
    total: int
    v: NotRequired[str]  # RawKept, when the caller keeps the record
    h: NotRequired[list[tuple[str, str]]]


class HostFailure(TypedDict):
    """A host that failed (or never reported): the data of a host_failed event."""

    host: str
    images_failed: list[str]
    images_cached: list[str]
    reason: str  # image_failed, no_report
    at: str


def as_held(marker: Marker) -> HeldEntry:
    """A marker stored under a :data:`HELD` key is a held entry (the key says which)."""
    return cast(HeldEntry, marker)


Listed = Callable[[str], bool]  # host -> is it in the operation's host list?

HELD = "\x00held:"  # marker key prefix of held progress: host names have no control characters

# rule codes of dead letters (docs/pipeline-rules.md)
NO_HOSTS = "no_hosts"
UNLISTED_HOSTS = "hosts_not_in_operation"  # a later start or end names hosts the list has not
NOT_IN_OPERATION = "host_not_in_operation"
TOTAL_MISMATCH = "total_mismatch"


@dataclass(frozen=True, slots=True)
class Limits:
    grace_period_s: float = 30.0
    stall_after_s: float = 300.0
    failed_hosts_cap: int = 1000
    retention_s: float = 86_400.0
    list_bytes: int = 100_000  # JSON bytes of one host list kept in state or sent in an event
    chunk_bytes: int = 256 * 1024  # JSON bytes of one state record (marker chunk, host list)
    event_bytes: int = 512 * 1024  # JSON bytes of one derived event
    # R8 plausibility: a time further than this ahead of the worker's clock, or behind the
    # operation's latest time, is not Nova's real time (None: not checked, as in rule tests
    # that run at ``now`` 0)
    clock_skew_s: float | None = None


@dataclass(frozen=True, slots=True)
class Effect:
    """A derived event to emit; ``kind`` is status, completed, host_failed or stalled."""

    kind: str
    host: HostFailure | None = None


@dataclass(frozen=True, slots=True)
class Dead:
    """A held progress that its operation's host list rejects: dead-lettered at resolution."""

    entry: "DeadEntry"
    reason: str
    error: str


@dataclass(slots=True)
class Step:
    """What applying one input does: writes (in this order) and events (emitted first).

    ``reject`` (code, detail): the input is dead-lettered and has no effect. ``dead``: held
    progress rejected when the list arrived. ``ignored``: input for a completed operation (R7).
    """

    op_id: str
    summary: Summary | None = None
    expected: list[str] | None = None
    alias: tuple[str, str] | None = None
    markers: list[tuple[str, Marker]] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    note: str | None = None  # worth a log line: "late" input, completion with missing hosts
    reject: tuple[str, str] | None = None
    dead: list[Dead] = field(default_factory=list)
    ignored: bool = False


class RecordTooLarge(ValueError):
    """One record's state would not fit a state record: the record is dead-lettered."""


def json_len(value: Any) -> int:
    """Bytes ``value`` takes in a JSON list (with its comma)."""
    return len(orjson.dumps(value)) + 1


def operation_id(n: Notification, alias: str | None) -> str:
    """R2: ``{region}/{aggregate}/{request_id}``; without one, region/aggregate/start time."""
    if n.request_id:
        return f"{n.region}/{n.aggregate.uuid}/{n.request_id}"
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
        "global_request_id": getattr(n, "global_request_id", None),
        "region": n.region,
        "aggregate": {"uuid": agg.uuid, "name": agg.name, "id": agg.id},
        "partition": partition,
        "images": [],
        "images_truncated": False,
        "hosts_total": None,  # the host list's length once one is known (R3)
        "hosts_reported": 0,
        "hosts_failed": 0,
        "hosts_held": 0,
        "failed_hosts": [],
        "image_failures": {},
        "missing_hosts": [],
        "state": "running",
        "outcome": None,
        "started_at": None,
        "first_at": None,  # min/max over applied notifications (R8)
        "updated_at": None,
        "seen_at": n.timestamp,  # first notification, applied or held: shown until one applies
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
    listed: Listed | None = None,
    held: Iterable[tuple[str, HeldEntry]] = (),
    raw: Callable[[], RawKept] | None = None,
) -> Step:
    """Apply one notification (at ``offset``); pure.

    ``marker``: the host's marker (progress) or the held entry of this offset (progress before
    any list); ``listed``: membership in the host list once one is known; ``held``: the held
    progress, in arrival order (start/end while none is known; once one is, the held entries
    of counted hosts whose marker is missing); ``raw``: what a held entry
    keeps of the record, to dead-letter it later (see :func:`hold_entry`).
    """
    op_id = op_id or operation_id(n, None)
    n, implausible = _plausible(n, summary, now, limits)
    s = summary.copy() if summary else new_summary(n, op_id, partition, now)
    if isinstance(n, (Start, End)):
        hosts = list(dict.fromkeys(n.hosts))
        if not hosts:
            return Step(op_id=op_id, reject=(NO_HOSTS, f"{n.kind} has an empty host list"))
        if s["state"] == "completed":
            step = _ignored(op_id, n)
            _repair_resolved(s, held, step)
        else:
            step = _list(s, n, hosts, now, limits, listed, held)
        _unlisted(step, n, hosts, summary, listed, offset, raw)
        step.note = step.note or implausible
        return step
    assert isinstance(n, Progress)
    if s["hosts_total"] is None:
        return _hold(s, n, offset, marker, now, limits, raw)
    counted = is_counted(n.host, marker, s)
    if s["state"] == "completed":  # R7 (a lost marker of a counted host is still repaired)
        return _duplicate(n, offset, s, marker) if counted else _ignored(op_id, n)
    # R4 in its order, as for held progress (_resolve): a copy of a counted host's progress
    # with another total is a total_mismatch, not a duplicate
    if listed is None or not listed(n.host):
        return Step(op_id=op_id, reject=(NOT_IN_OPERATION, f"{n.host!r} is not in {op_id}"))
    if n.total != s["hosts_total"]:
        detail = f"total {n.total} but {op_id} has {s['hosts_total']} hosts"
        return Step(op_id=op_id, reject=(TOTAL_MISMATCH, detail))
    if counted:
        return _duplicate(n, offset, s, marker)
    step = Step(op_id=op_id, note=implausible)
    new_marker = _marker(n, offset)
    _check_size(n.host, new_marker, limits)
    _count(s, n.host, new_marker, step, limits)
    _touch(s, n.timestamp, now)
    return _finish(s, step, limits, now)


def _plausible(
    n: Notification, summary: Summary | None, now: float, limits: Limits
) -> tuple[Notification, str | None]:
    """R8 plausibility: ``n`` with a time the rules may use, and a note if it was replaced.

    Ahead of the worker's clock by more than ``clock_skew_s``: the worker's clock is used
    (no ``updated_at`` in the future). Behind the operation's latest applied time by more than
    that: the latest time is used (one aggregate's records arrive in Nova's order, so a time
    hours back is a wrong clock, not a late record). The host still counts: only its time
    is not believed. A time behind the worker's clock alone is accepted: a backlog replayed
    after an outage is hours old and right.
    """
    skew = limits.clock_skew_s
    if skew is None:
        return n, None
    at = n.timestamp
    try:
        when = _time(at)
    except ValueError:
        return n, None
    latest = summary.get("updated_at") if summary else None
    if when.timestamp() - now > skew:
        fixed = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        why = "ahead of the worker's clock"
    elif latest is not None and (_time(latest) - when).total_seconds() > skew:
        fixed, why = latest, "behind the operation's latest time"
    else:
        return n, None
    note = f"{n.kind} time {at} is more than {skew:g} s {why}: {fixed} used (R8)"
    return dataclasses.replace(n, timestamp=fixed), note


def _unlisted(
    step: Step,
    n: Start | End,
    hosts: list[str],
    summary: Summary | None,
    listed: Listed | None,
    offset: int,
    raw: Callable[[], RawKept] | None,
) -> None:
    """R3: a start or end after the list that names hosts the list has not is applied (an
    end still ends the operation) and, so those hosts are not dropped in silence, its record
    is also dead-lettered (``hosts_not_in_operation``) naming them."""
    if summary is None or summary["hosts_total"] is None or listed is None:
        return  # this record's list is the operation's
    extra = [host for host in hosts if not listed(host)]
    if not extra:
        return
    shown = ", ".join(repr(host) for host in extra[:5])
    more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
    detail = (
        f"{n.kind} names {len(extra)} host(s) not in the list of {step.op_id} "
        f"({summary['hosts_total']} hosts): {shown}{more}; applied to the listed hosts only"
    )
    kept = raw() if raw else hold_entry(None, [])
    entry: DeadEntry = {"o": offset, "v": kept["v"], "h": kept["h"]}
    step.dead.append(Dead(entry, UNLISTED_HOSTS, detail))


def _ignored(op_id: str, n: Notification) -> Step:
    """R7: input for a completed operation changes nothing (a log line and a counter)."""
    return Step(op_id=op_id, ignored=True, note=f"{n.kind} for a completed operation: ignored")


def _list(
    s: Summary,
    n: Start | End,
    hosts: list[str],
    now: float,
    limits: Limits,
    listed: Listed | None,
    held: Iterable[tuple[str, HeldEntry]],
) -> Step:
    """R3: the first list is the truth; R5: held progress resolved against it, in order."""
    step = Step(op_id=s["operation_id"])
    if s["hosts_total"] is None:
        s["hosts_total"] = len(hosts)
        step.expected = hosts
        _resolve(s, set(hosts), held, step, limits)
    else:
        if len(hosts) != s["hosts_total"] or (listed and not all(map(listed, hosts))):
            step.note = f"{n.kind} lists other hosts than the operation's list: list ignored"
        _repair_resolved(s, held, step)
    if isinstance(n, Start):
        if not s["has_start"]:
            s["started_at"] = n.timestamp
        s["has_start"] = True
    else:
        s["end_wall"] = s["end_wall"] or now
    if s["global_request_id"] is None:
        s["global_request_id"] = getattr(n, "global_request_id", None)
    _touch(s, n.timestamp, now)
    return _finish(s, step, limits, now)


def _resolve(
    s: Summary, hosts: set[str], held: Iterable[tuple[str, HeldEntry]], step: Step, limits: Limits
) -> None:
    counted: set[str] = set()
    for _key, entry in held:
        host = entry["host"]
        if host not in hosts:
            step.dead.append(Dead(entry, NOT_IN_OPERATION, f"{host!r} is not in the list"))
        elif entry["total"] != len(hosts):
            detail = f"total {entry['total']} but the list has {len(hosts)} hosts"
            step.dead.append(Dead(entry, TOTAL_MISMATCH, detail))
        elif host not in counted:
            counted.add(host)
            _count(s, host, _counted(entry), step, limits)
            _touch(s, entry["at"], s["activity_wall"])
    s["hosts_held"] = 0


def _repair_resolved(s: Summary, lost: Iterable[tuple[str, HeldEntry]], step: Step) -> None:
    """Redelivery of the record whose list resolved held progress, after a crash cut the
    resolved hosts' markers: ``lost`` are the held entries of the hosts the last summary
    counted without a marker; their markers are written again (the held records themselves
    are committed, so nothing else would repair them)."""
    done: set[str] = set()
    for _key, entry in lost:
        host = entry["host"]
        if host not in done and entry["total"] == s["hosts_total"]:
            done.add(host)
            step.markers.append((host, _counted(entry)))


def _hold(
    s: Summary,
    n: Progress,
    offset: int,
    entry: Marker | None,
    now: float,
    limits: Limits,
    raw: Callable[[], RawKept] | None,
) -> Step:
    """R5: progress before any host list: kept apart, not counted; a redelivery of the very
    record is recognised by its offset (and repaired when a crash lost its held entry)."""
    key = f"{HELD}{offset}"
    step = Step(op_id=s["operation_id"])
    if entry is not None:
        return step
    held: HeldEntry = {
        "o": offset,
        "host": n.host,
        "total": n.total,
        "f": list(n.images_failed),
        "c": list(n.images_cached),
        "at": n.timestamp,
    }
    if raw:
        kept = raw()
        held["v"], held["h"] = kept["v"], kept["h"]
    _check_size(key, held, limits)
    step.markers.append((key, held))
    if key in s.get("last_hosts", ()):
        return step  # counted by the last summary write, entry lost in a crash: repair it
    s["hosts_held"] += 1
    s["seen_at"] = min(s["seen_at"], n.timestamp)
    s["activity_wall"] = now
    s["version"] += 1
    step.effects.append(Effect("status"))
    step.summary = s
    return step


def _finish(s: Summary, step: Step, limits: Limits, now: float) -> Step:
    """R6: complete once every listed host is counted."""
    if s["hosts_total"] is not None and s["hosts_reported"] >= s["hosts_total"]:
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


def _counted(entry: HeldEntry) -> Marker:
    """The marker of a host counted from its held entry."""
    return {"o": entry["o"], "f": entry["f"], "c": entry["c"], "at": entry["at"]}


def _check_size(key: str, marker: Marker, limits: Limits) -> None:
    size = json_len(key) + json_len(marker)
    if size > limits.chunk_bytes:
        raise RecordTooLarge(f"state of {key[:80]!r} is {size} bytes > {limits.chunk_bytes}")


def hold_entry(value: bytes | None, headers: list[tuple[str, str]]) -> RawKept:
    """What a held progress keeps of its record to dead-letter it later: value and headers
    (as text: a record that parsed is UTF-8 JSON; undecodable header values are dropped)."""
    return {"v": (value or b"").decode(), "h": headers}


def _duplicate(n: Progress, offset: int, s: Summary, marker: Marker | None) -> Step:
    """Host already counted. A lost marker (the last summary counted the host, a crash cut the
    marker write) is repaired. No event again: events are in Kafka before the state that
    counted the host is written."""
    step = Step(op_id=s["operation_id"])
    if marker is None:
        step.markers.append((n.host, _marker(n, offset)))
    return step


def host_failure(host: str, marker: Marker, reason: str = "image_failed") -> HostFailure:
    return {
        "host": host,
        "images_failed": marker["f"],
        "images_cached": marker["c"],
        "reason": reason,
        "at": marker["at"],
    }


def _count(s: Summary, host: str, marker: Marker, step: Step, limits: Limits) -> None:
    """R4: count a listed host once; its marker follows the summary."""
    step.markers.append((host, marker))
    s["hosts_reported"] += 1
    _add_images(s, [*marker["c"], *marker["f"]], limits)
    if s["state"] == "stalled":
        s["state"] = "running"
    if not marker["f"]:
        return
    s["hosts_failed"] += 1
    failures = dict(s["image_failures"])
    for image in set(marker["f"]):
        if image in failures or len(failures) < limits.failed_hosts_cap:
            failures[image] = failures.get(image, 0) + 1
    s["image_failures"] = failures
    s["failed_hosts"] = capped_insert(s["failed_hosts"], host, limits)
    step.effects.append(Effect("host_failed", host_failure(host, marker)))


def _add_images(s: Summary, images: list[str], limits: Limits) -> None:
    new = [i for i in dict.fromkeys(images) if i not in s["images"]]
    if not new or s["images_truncated"]:
        s["images_truncated"] = s["images_truncated"] or bool(new)
        return
    merged, truncated = cap_list(sorted({*s["images"], *new}), limits, limits.list_bytes)
    s["images"], s["images_truncated"] = merged, truncated


def cap_list(items: list[str], limits: Limits, budget: int) -> tuple[list[str], bool]:
    """The longest prefix of ``items`` within ``failed_hosts_cap`` entries and ``budget``
    JSON bytes; and whether anything was cut."""
    size = 2
    for i, item in enumerate(items):
        size += json_len(item)
        if size > budget or i >= limits.failed_hosts_cap:
            return items[:i], True
    return items, False


def capped_insert(hosts: list[str], host: str, limits: Limits) -> list[str]:
    """Insert in natural order, keep the longest prefix within the count and byte caps:
    O(cap), never O(operation size). Idempotent, since the list may be persisted ahead of the
    summary that counts the host."""
    if host in hosts:
        return hosts
    out = list(hosts)
    bisect.insort(out, host, key=natural_key)
    return cap_list(out, limits, limits.list_bytes)[0]


def _touch(s: Summary, at: str, now: float) -> None:
    """R8: first/last over applied notifications (canonical UTC text: string order is time
    order)."""
    s["first_at"] = min(s["first_at"] or at, at)
    s["updated_at"] = max(s["updated_at"] or at, at)
    s["activity_wall"] = now
    s["version"] += 1


def _complete(s: Summary, missing: list[str], step: Step, limits: Limits, now: float) -> None:
    """Close the operation; ``missing`` hosts never reported and count as failed (R6)."""
    s["hosts_failed"] += len(missing)
    failed = s["failed_hosts"]
    for host in missing[: limits.failed_hosts_cap]:
        failed = capped_insert(failed, host, limits)
    s["failed_hosts"] = failed
    ordered = sorted(missing, key=natural_key)
    s["missing_hosts"], _ = cap_list(ordered, limits, limits.list_bytes)
    s["missing_count"] = len(missing)
    s["state"] = "completed"
    s["outcome"] = outcome(s["hosts_failed"], s["hosts_total"] or 0)
    s["completed_at"] = s["updated_at"]
    s["completed_wall"] = now  # the worker's clock: retention counts from here
    at = s["updated_at"] or s["seen_at"]
    for host in missing:
        step.effects.append(Effect("host_failed", _no_report(host, at)))
    step.effects.append(Effect("completed"))


def _no_report(host: str, at: str) -> HostFailure:
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
    if summary["state"] == "completed" or summary.get("quarantined"):
        return None
    s = summary.copy()
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


def quarantine(summary: Summary, error: str) -> Step:
    """An operation whose timer rules raised: never ticked again (no crash loop), kept for
    the record; its inputs are still applied one by one (each failure dead-lettered)."""
    s = summary.copy()
    s["quarantined"] = error[:1000]
    s["version"] += 1
    return Step(op_id=s["operation_id"], summary=s, reject=("tick_error", error))


def _stall_due(s: Summary, now: float, limits: Limits) -> bool:
    if now - s["activity_wall"] < limits.stall_after_s:
        return False
    stalled_at = s["stall_wall"] or 0.0  # set whenever the state is stalled
    return s["state"] != "stalled" or now - stalled_at >= limits.stall_after_s


def missing_hosts(expected: Iterable[str] | None, is_counted: Callable[[str], bool]) -> list[str]:
    """Listed hosts that never reported; O(n), once per operation."""
    return [h for h in dict.fromkeys(expected or ()) if not is_counted(h)]


def percent(s: Summary) -> float:
    total = s["hosts_total"] or 0
    if s["state"] == "completed":
        return 100.0
    return round(100.0 * s["hosts_reported"] / total, 2) if total else 0.0


def span(s: Summary) -> tuple[str, str]:
    """First and last notification times; before any applied one, the first seen (held)."""
    first = s.get("first_at") or s["seen_at"]
    return first, s.get("updated_at") or first


def duration_s(s: Summary) -> float:
    """First to last applied notification, in Nova's clock; never negative (R8)."""
    first, last = span(s)
    try:
        seconds = (_time(last) - _time(first)).total_seconds()
    except ValueError:
        return 0.0
    return round(max(seconds, 0.0), 6)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z") + "+00:00")
