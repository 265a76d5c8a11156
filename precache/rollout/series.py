"""Which retry series a run goes on with, after a restart. Pure rules, as the planner's.

A target's *goal* is what a command wants of it: its mode, the image ids (resolved, as a set)
and what the planner checks them against (:func:`~precache.rollout.planner.requirement`: the
gate's share and ``valid_for``, keep-warm's horizon). It is a short digest, carried by every
``precache.rollout.*`` event. ``[pace]`` is not in it: how hard and how fast to try is not what
to reach, and a rerun with a gentler pace is still the same rollout. A retry series is the
attempts at one goal: a run continues the open series it finds (``GET /rollouts``) only when
its goal is the run's own and its newest request is younger than the age bound; otherwise
it starts from 0, and says why once.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from precache.contract.events import parse_time
from precache.rollout.planner import Attempts, Mode, Wanted, human, requirement
from precache.rollout.policy import Policy

GOAL_PREFIX = "g1-"  # a new way to compute goals changes it: older series are then foreign


def goal(policy: Policy, mode: Mode, wanted: Wanted) -> str:
    """The digest of what ``mode`` wants of ``wanted`` (module doc)."""
    required, horizon = requirement(policy, mode)
    text = json.dumps(
        {
            "mode": mode,
            "images": sorted(set(wanted.images)),
            "require": required,
            "for_s": horizon.total_seconds(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return GOAL_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:16]


def max_age(setting_s: float, policy: Policy) -> timedelta:
    """The age bound: the setting, but never less than ``[pace] backoff_max``, the longest a
    live series waits between two requests (keep-warm past its retries): a restart in such a
    wait must not take it for an abandoned series and retry at full speed."""
    return max(timedelta(seconds=setting_s), policy.pace.backoff_max)


@dataclass(frozen=True, slots=True)
class Carried:
    """What a run takes over of a target's open series: its count and last try, or nothing
    and why (one line for the operator)."""

    attempts: Attempts | None
    why_not: str | None = None


def carry(
    series: Mapping[str, Any] | None, mode: Mode, goal: str, now: datetime, bound: timedelta
) -> Carried:
    """``series`` (an ``open`` entry of ``GET /rollouts``) as the run's retry count, when it
    is of the run's goal and its newest request is younger than ``bound``."""
    if not series:
        return Carried(None)
    last = parse_time(series["last_request_at"])
    count = int(series["attempts"])
    age = max(now - last, timedelta(0))  # a clock behind the writer's: young
    what = f"the open {mode} series ({_requests(count)}, the newest {human(age)} ago)"
    if series.get("goal") != goal:
        return Carried(
            None,
            f"policy changed since {what}: other images or gate; its retries start from 0",
        )
    if age > bound:
        return Carried(
            None,
            f"{what} is older than {human(bound)} (PRECACHE_ROLLOUT_SERIES_MAX_AGE_S, at least "
            "[pace] backoff_max); its retries start from 0",
        )
    return Carried(Attempts(count, last))


def _requests(n: int) -> str:
    return f"{n} request" if n == 1 else f"{n} requests"
