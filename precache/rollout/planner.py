"""The reconciler's rules, pure: (policy, inventory snapshot, operations in flight, clock) ->
which targets are ready, and which requests to send to Nova now, each with its reasons.

No I/O here, so the rules are tested in milliseconds (tests/unit/test_rollout_planner.py) and
both commands share them:

- ``rollout`` wants each target's gate (``[gate] require`` of the hosts hold every image for
  ``valid_for``; :func:`precache.pipeline.inventory.gate`, the same rule as ``precache images
  --require``). A target whose gate holds gets no request.
- ``keep-warm`` wants every host to hold every image for ``[keep] refresh_before``: a host that
  joined (missing), lost or failed the image, or whose copy expires that soon, asks for a
  request.

Pacing (``[pace]``): never two operations for one aggregate at once (ours or anyone's, as the
worker sees them), at most ``in_flight_per_region`` in a region and ``in_flight`` in all; a
target still short after a request is retried ``retry_failed`` times, each after a backoff that
doubles up to ``backoff_max``; then rollout gives it up (failed) and keep-warm waits
``backoff_max`` between tries.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from precache.pipeline.inventory import gate, parse_time
from precache.rollout.policy import Policy

Mode = Literal["rollout", "keep-warm"]
Row = Mapping[str, Any]


class TargetState(StrEnum):
    READY = "ready"  # the gate holds: no request
    IN_FLIGHT = "in_flight"  # an operation on this aggregate is running: wait for it
    REQUEST = "request"  # asked for in this plan
    QUEUED = "queued"  # needs a request; the pace holds it back
    BACKOFF = "backoff"  # short after a request: the next try waits
    FAILED = "failed"  # rollout: still short after every retry


@dataclass(frozen=True, slots=True, order=True)
class TargetKey:
    region: str
    aggregate: str  # as the policy names it

    def __str__(self) -> str:
        return f"{self.region}/{self.aggregate}"


@dataclass(frozen=True, slots=True)
class Wanted:
    """One (region, aggregate) of the policy, resolved through Nova and the image service."""

    key: TargetKey
    aggregate_uuid: str
    images: tuple[str, ...]  # image ids


@dataclass(frozen=True, slots=True)
class Observed:
    """What is known of one target now: its hosts (Nova's answer, so a host that just joined
    counts) and per image id the inventory's rows of those hosts (any subset)."""

    members: tuple[str, ...]
    rows: Mapping[str, Sequence[Row]]


@dataclass(frozen=True, slots=True)
class InFlight:
    """An operation on an aggregate that is not settled: running as the worker sees it, just
    completed (the inventory may not show its touches yet), or accepted by Nova and not yet
    seen by the worker."""

    region: str
    aggregate_uuid: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Attempts:
    """Requests sent for a target since it was last satisfied (kept by the caller)."""

    count: int = 0
    last_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Request:
    key: TargetKey
    aggregate_uuid: str
    images: tuple[str, ...]
    reasons: tuple[str, ...]
    attempt: int  # 1 for the first request, 2 for the first retry, ...


@dataclass(frozen=True, slots=True)
class Verdict:
    state: TargetState
    reasons: tuple[str, ...] = ()
    short_images: tuple[str, ...] = ()
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    verdicts: dict[TargetKey, Verdict] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Shortage:
    """Why one target falls short: per kind, the hosts (union over its images)."""

    images: tuple[str, ...]
    missing: frozenset[str]
    failed: frozenset[str]
    expiring: frozenset[str]
    earliest_expiry: datetime | None

    def reasons(self, now: datetime) -> tuple[str, ...]:
        out = []
        if self.missing:
            out.append(f"missing on {_hosts(len(self.missing))}")
        if self.failed:
            out.append(f"failed last time on {_hosts(len(self.failed))}")
        if self.expiring and self.earliest_expiry is not None:
            left = self.earliest_expiry - now
            when = f"in {human(left)}" if left > timedelta(0) else f"{human(-left)} ago"
            verb = "expires" if left > timedelta(0) else "expired"
            out.append(f"{verb} {when} on {_hosts(len(self.expiring))}")
        return tuple(out)


def shortage(
    wanted: Wanted, seen: Observed, required: float, horizon: timedelta, now: datetime
) -> Shortage | None:
    """None when, for every image, at least ``required`` of the hosts hold it for ``horizon``
    (the gate); else the images that fall short and why."""
    images: list[str] = []
    missing: set[str] = set()
    failed: set[str] = set()
    expiring: set[str] = set()
    earliest: datetime | None = None
    for image in wanted.images:
        rows = seen.rows.get(image, ())
        result = gate(seen.members, rows, required, now, horizon)
        if result.ok:
            continue
        images.append(image)
        by_host = {r["host"]: r for r in rows}
        for s in result.short:
            {"missing": missing, "failed": failed, "expiring": expiring}[s.why].add(s.host)
            if s.why == "expiring":
                at = parse_time(by_host[s.host]["expires_at"])
                earliest = at if earliest is None or at < earliest else earliest
    if not images:
        return None
    return Shortage(
        tuple(images), frozenset(missing), frozenset(failed), frozenset(expiring), earliest
    )


def plan(
    policy: Policy,
    mode: Mode,
    targets: Sequence[Wanted],
    observed: Mapping[TargetKey, Observed],
    in_flight: Iterable[InFlight],
    attempts: Mapping[TargetKey, Attempts],
    now: datetime,
) -> Plan:
    """Verdicts of every target and the requests to send now, in the policy's order."""
    busy = {(f.region, f.aggregate_uuid) for f in in_flight}
    per_region: dict[str, int] = {}
    for region, _ in busy:
        per_region[region] = per_region.get(region, 0) + 1
    total = len(busy)
    required, horizon = requirement(policy, mode)
    result = Plan()
    for wanted in targets:
        seen = observed.get(wanted.key)
        short = None if seen is None else shortage(wanted, seen, required, horizon, now)
        if seen is None:  # not read this pass: nothing to decide on
            result.verdicts[wanted.key] = Verdict(TargetState.QUEUED, ("inventory not read",))
            continue
        if (wanted.key.region, wanted.aggregate_uuid) in busy:
            reasons = short.reasons(now) if short else ()
            result.verdicts[wanted.key] = Verdict(TargetState.IN_FLIGHT, reasons)
            continue
        if short is None:
            result.verdicts[wanted.key] = Verdict(TargetState.READY)
            continue
        reasons = short.reasons(now)
        tried = attempts.get(wanted.key, Attempts())
        wait_until = _retry_at(policy, mode, tried)
        if mode == "rollout" and tried.count > policy.pace.retry_failed:
            result.verdicts[wanted.key] = Verdict(TargetState.FAILED, reasons, short.images)
            continue
        if wait_until is not None and now < wait_until:
            result.verdicts[wanted.key] = Verdict(
                TargetState.BACKOFF, reasons, short.images, wait_until
            )
            continue
        region = wanted.key.region
        if (
            total >= policy.pace.in_flight
            or per_region.get(region, 0) >= policy.pace.in_flight_per_region
        ):
            result.verdicts[wanted.key] = Verdict(TargetState.QUEUED, reasons, short.images)
            continue
        per_region[region] = per_region.get(region, 0) + 1
        total += 1
        result.requests.append(
            Request(wanted.key, wanted.aggregate_uuid, short.images, reasons, tried.count + 1)
        )
        result.verdicts[wanted.key] = Verdict(TargetState.REQUEST, reasons, short.images)
    return result


def requirement(policy: Policy, mode: Mode) -> tuple[float, timedelta]:
    """What ``mode`` wants of a target's hosts: (share that must hold every image, for how
    long). Part of the target's goal (:mod:`precache.rollout.series`)."""
    if mode == "rollout":
        return policy.gate.require, policy.gate.valid_for
    return 1.0, max(policy.keep.refresh_before, policy.gate.valid_for)


def _retry_at(policy: Policy, mode: Mode, tried: Attempts) -> datetime | None:
    """When the next request may go: none before the first; then ``backoff`` doubling up to
    ``backoff_max`` (keep-warm past its retries: ``backoff_max``)."""
    if tried.count == 0 or tried.last_at is None:
        return None
    pace = policy.pace
    if mode == "keep-warm" and tried.count > pace.retry_failed:
        return tried.last_at + pace.backoff_max
    delay: timedelta = min(pace.backoff * 2 ** (tried.count - 1), pace.backoff_max)
    return tried.last_at + delay


def human(period: timedelta) -> str:
    """``1h40m``, ``2d3h``, ``45m``, ``30s``: as precise as an operator reads it."""
    seconds = int(period.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _hosts(n: int) -> str:
    return f"{n} host" if n == 1 else f"{n} hosts"
