"""Both commands' loop: read, plan, ask Nova, follow, report. Stateless across restarts: each
pass re-derives what to do from Nova (each aggregate's hosts), the inventory and the
operations (the worker's tables, i.e. Kafka), and the first pass takes each target's retry
count, last try and recent requests from what the worker kept of the rollout events
(``GET /rollouts``), so a killed and rerun rollout goes on counting where it stopped, if it
wants the same of the target and stopped recently (:mod:`.series`).

After that first pass the loop counts in memory: it is the one adding to its targets' series,
and re-reading them each pass would race with its own events (a ``ready`` published but not yet
applied by the worker would bring back the retries it just closed).
"""

import os
import random
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from precache.cache.errors import NovaRefused, NovaUnreachable
from precache.contract.events import CloudEvent, parse_time
from precache.errors import WorkerUnreachable
from precache.rollout.events import EventSink, request_event, target_event
from precache.rollout.nova_side import Fleet, Resolved
from precache.rollout.observe import by_request, in_flight, observe, operations, rollouts
from precache.rollout.planner import (
    Attempts,
    InFlight,
    Mode,
    Plan,
    TargetKey,
    TargetState,
    Verdict,
    plan,
)
from precache.rollout.policy import Policy
from precache.rollout.report import Reporter
from precache.rollout.series import carry, goal, max_age
from precache.rollout.settings import RolloutSettings

EXIT_READY, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 2
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Pending:
    """A request Nova accepted that the worker has not shown yet."""

    key: TargetKey
    region: str
    aggregate_uuid: str
    since: float  # monotonic


@dataclass
class _Then:
    key: TargetKey
    proc: subprocess.Popen[bytes]


@dataclass
class Reconciler:
    policy: Policy
    mode: Mode
    settings: RolloutSettings
    fleet: Fleet
    reporter: Reporter
    then: str | None = None
    events: EventSink | None = None
    clock: Clock = utcnow
    targets: list[Resolved] = field(default_factory=list)
    goals: dict[TargetKey, str] = field(default_factory=dict)  # what each target's events carry
    attempts: dict[TargetKey, Attempts] = field(default_factory=dict)
    pending: dict[str, _Pending] = field(default_factory=dict)
    ours: dict[str, TargetKey] = field(default_factory=dict)  # request id -> target
    followed: dict[str, int] = field(default_factory=dict)  # request id -> version shown
    verdicts: dict[TargetKey, Verdict] = field(default_factory=dict)
    thens: list[_Then] = field(default_factory=list)
    then_failed: set[TargetKey] = field(default_factory=set)
    seeded: bool = False  # the first pass read GET /rollouts
    done: set[str] = field(default_factory=set)  # our request ids seen completed: not asked again

    def resolve(self) -> None:
        self.targets = self.fleet.resolve()
        self.goals = {t.wanted.key: goal(self.policy, self.mode, t.wanted) for t in self.targets}

    def step(self, dry_run: bool = False) -> Plan:
        """One pass; Nova's and the worker's errors propagate (the caller decides: exit 3 or
        back off)."""
        now = self.clock()
        if not self.seeded:
            self._seed(now)
        observed = {
            t.wanted.key: observe(self.settings, t.wanted, self.fleet.members(t))
            for t in self.targets
        }
        settle = timedelta(seconds=self.settings.rollout_settle_s)
        following = [rid for rid in self.ours if rid not in self.done] + list(self.pending)
        ops = operations(self.settings, self._regions(), following, now - settle)
        self._follow(ops)
        flying = in_flight(ops, now, settle)
        flying += self._pending_flights(ops)
        result = plan(
            self.policy, self.mode, [t.wanted for t in self.targets], observed, flying,
            self.attempts, now,
        )  # fmt: skip
        if dry_run:
            self.reporter.plan(self.targets, result)
            return result
        for target in self.targets:
            self._verdict(target, result.verdicts[target.wanted.key])
        by_key = {t.wanted.key: t for t in self.targets}
        for request in result.requests:
            target = by_key[request.key]
            try:
                accepted = self.fleet.request(target, request.images)
            except (NovaRefused, NovaUnreachable):
                self.attempts[request.key] = Attempts(request.attempt, now)
                raise
            self.attempts[request.key] = Attempts(request.attempt, now)
            rid = accepted.request_id or accepted.global_request_id
            self.pending[rid] = _Pending(
                request.key, request.key.region, request.aggregate_uuid, time.monotonic()
            )
            self.ours[rid] = request.key
            # in Kafka before it is shown: a rollout killed once it showed a request has left
            # the event its rerun counts the retries from
            self._publish(
                request_event(self.mode, self.goals[request.key], target, request, accepted)
            )
            self.reporter.requested(target, request, accepted)
        self._reap_thens()
        return result

    def _regions(self) -> list[str]:
        return sorted({t.wanted.key.region for t in self.targets})

    def _seed(self, now: datetime) -> None:
        """What runs before this one did to the targets (``GET /rollouts``): each target's
        open series of this mode gives its retry count and last try (the backoff), if it is
        of this run's goal and recent (:func:`~precache.rollout.series.carry`; else one note
        says why not), and a request Nova accepted less than ``rollout_pending_s`` ago counts
        as in flight until the worker shows its operation (as this run's own), whatever its
        goal: never two operations on one aggregate."""
        known = {
            (r["region"], r["aggregate"]["uuid"]): r
            for r in rollouts(self.settings, self._regions())
        }
        bound = max_age(self.settings.rollout_series_max_age_s, self.policy)
        for target in self.targets:
            key, uuid = target.wanted.key, target.wanted.aggregate_uuid
            record = known.get((key.region, uuid))
            if record is None:
                continue
            series = record.get("open", {}).get(self.mode)
            carried = carry(series, self.mode, self.goals[key], now, bound)
            if carried.attempts is not None:
                self.attempts[key] = carried.attempts
            elif carried.why_not:
                self.reporter.note(f"{key}: {carried.why_not}")
            for q in record.get("requests", []):
                age = (now - parse_time(q["at"])).total_seconds()
                rid = q.get("request_id") or q["global_request_id"]
                if age < self.settings.rollout_pending_s and rid not in self.pending:
                    since = time.monotonic() - max(age, 0.0)
                    self.pending[rid] = _Pending(key, key.region, uuid, since)
        self.seeded = True

    def _pending_flights(self, ops: list[dict[str, object]]) -> list[InFlight]:
        seen = {op.get("request_id") for op in ops}
        limit = time.monotonic() - self.settings.rollout_pending_s
        for rid, p in list(self.pending.items()):
            if rid in seen or p.since < limit:
                del self.pending[rid]
        return [InFlight(p.region, p.aggregate_uuid, rid) for rid, p in self.pending.items()]

    def _follow(self, ops: list[dict[str, object]]) -> None:
        for rid, op in by_request(ops, self.ours).items():
            if op.get("state") == "completed":
                self.done.add(rid)
            version = int(str(op.get("version") or 0))
            if self.followed.get(rid) != version:
                self.followed[rid] = version
                self.reporter.operation(self.ours[rid], op)

    def _verdict(self, target: Resolved, verdict: Verdict) -> None:
        key = target.wanted.key
        before = self.verdicts.get(key)
        self.verdicts[key] = verdict
        if verdict.state is TargetState.READY:
            self.attempts.pop(key, None)
        if before is not None and (before.state, before.reasons) == (
            verdict.state,
            verdict.reasons,
        ):
            return
        self.reporter.target(target, verdict)
        settled = verdict.state in (TargetState.READY, TargetState.FAILED)
        if settled and (before is None or before.state is not verdict.state):
            self._publish(target_event(self.mode, self.goals[key], target, verdict))
        became_ready = verdict.state is TargetState.READY and (
            before is None or before.state is not TargetState.READY
        )
        if became_ready and self.then and self.mode == "rollout":
            self.thens.append(_Then(key, _start_then(self.then, target)))

    def _publish(self, event: CloudEvent) -> None:
        if self.events is not None:
            warning = self.events.send(event)
            if warning:
                self.reporter.note(warning)

    def _reap_thens(self, wait: bool = False) -> None:
        for t in list(self.thens):
            status = t.proc.wait() if wait else t.proc.poll()
            if status is None:
                continue
            self.thens.remove(t)
            if status != 0:
                self.then_failed.add(t.key)
            self.reporter.then_done(t.key, status)

    def close(self) -> None:
        if self.events is not None:
            self.events.close()

    def finished(self) -> bool:
        return not self.pending and all(
            v.state in (TargetState.READY, TargetState.FAILED) for v in self.verdicts.values()
        )

    def exit_status(self) -> int:
        self._reap_thens(wait=True)
        ok = all(v.state is TargetState.READY for v in self.verdicts.values())
        return EXIT_READY if ok and not self.then_failed else EXIT_FAILED


def _start_then(command: str, target: Resolved) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PRECACHE_TARGET_REGION": target.wanted.key.region,
        "PRECACHE_TARGET_AGGREGATE": target.wanted.key.aggregate,
        "PRECACHE_TARGET_IMAGES": ",".join(target.wanted.images),
        "PRECACHE_TARGET_CLOUD": target.cloud,
    }
    return subprocess.Popen(command, shell=True, env=env)


def rollout(rec: Reconciler, timeout_s: float | None, dry_run: bool) -> int:
    """Converge once: 0 every target ready, 1 some failed after retries (or a --then failed),
    2 not done within ``timeout_s``. Nova refusing, an unknown aggregate or image, Nova or the
    worker unreachable at the first pass: a :class:`~precache.errors.PrecacheError`, exit 3."""
    rec.resolve()
    if dry_run:
        rec.step(dry_run=True)
        return EXIT_READY
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    first = True
    while True:
        try:
            rec.step()
        except (NovaUnreachable, WorkerUnreachable) as exc:
            if first:
                raise
            rec.reporter.note(f"warning: {exc}; trying again")
        first = False
        if rec.finished():
            status = rec.exit_status()
            rec.reporter.summary(rec.targets, rec.verdicts, status)
            return status
        if deadline is not None and time.monotonic() >= deadline:
            rec.reporter.summary(rec.targets, rec.verdicts, EXIT_TIMEOUT)
            return EXIT_TIMEOUT
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        time.sleep(min(rec.settings.rollout_poll_s, left if left is not None else 1e9))


def keep_warm(rec: Reconciler, stop: threading.Event, dry_run: bool) -> int:
    """Forever, until ``stop``: a pass every ``[keep] interval`` plus jitter; Nova or the worker
    unreachable, or Nova refusing a request, back off (doubling up to ``[pace] backoff_max``)
    instead of exiting. Only a policy that names nothing (unknown aggregate or image) exits."""
    keep, pace = rec.policy.keep, rec.policy.pace
    backoff = 0.0
    resolved = False
    while not stop.is_set():
        try:
            if not resolved:
                rec.resolve()
                resolved = True
            rec.step(dry_run=dry_run)
            if dry_run:
                return EXIT_READY
            backoff = 0.0
            wait = keep.interval.total_seconds() * (1 + keep.jitter * random.random())
        except (NovaUnreachable, NovaRefused, WorkerUnreachable) as exc:
            if dry_run:
                raise
            backoff = min(
                max(backoff * 2, pace.backoff.total_seconds()), pace.backoff_max.total_seconds()
            )
            wait = backoff * (1 + keep.jitter * random.random())
            rec.reporter.note(f"warning: {exc}; next try in {wait:.0f}s")
        stop.wait(wait)
    rec.reporter.note("keep-warm: stopped")
    return EXIT_READY
