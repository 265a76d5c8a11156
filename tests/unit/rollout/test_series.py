"""Which retry series a restarted run goes on with: the goal digest (images and gate, not the
pace) and the rule that continues an open series only for the same goal and while young."""

from datetime import UTC, datetime, timedelta

import pytest

from precache.contract.events import canonical_time
from precache.rollout.planner import Attempts, Mode, TargetKey, Wanted
from precache.rollout.policy import Policy, parse_policy
from precache.rollout.series import GOAL_PREFIX, carry, goal, max_age

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
WEB = Wanted(TargetKey("eu-1", "web"), "u-web", ("img-1", "img-2"))
HOUR = timedelta(hours=1)


def policy(gate: str = "", pace: str = "", keep: str = "") -> Policy:
    return parse_policy(
        'images = ["x"]\n[[target]]\ncloud = "eu-1"\naggregates = ["web"]\n'
        f"[gate]\n{gate}\n[pace]\n{pace}\n[keep]\n{keep}\n"
    )


def test_the_pace_and_the_image_order_are_not_the_goal() -> None:
    base = goal(policy(), "rollout", WEB)
    assert base.startswith(GOAL_PREFIX)
    gentle = policy(pace='retry_failed = 5\nbackoff = "5m"\nin_flight = 1\nbackoff_max = "2h"')
    assert goal(gentle, "rollout", WEB) == base
    assert goal(policy(), "rollout", Wanted(WEB.key, "u-web", ("img-2", "img-1", "img-2"))) == base
    # keep-warm's own keys are not the rollout's goal
    assert goal(policy(keep='refresh_before = "9h"'), "rollout", WEB) == base


@pytest.mark.parametrize(
    ("other", "mode", "images"),
    [
        (policy(), "rollout", ("img-1",)),  # an image less
        (policy(), "rollout", ("img-1", "img-3")),  # another image
        (policy(gate='require = "90%"'), "rollout", WEB.images),
        (policy(gate='valid_for = "6h"'), "rollout", WEB.images),
        (policy(), "keep-warm", WEB.images),
    ],
)
def test_images_gate_and_mode_are_the_goal(
    other: Policy, mode: Mode, images: tuple[str, ...]
) -> None:
    base = goal(policy(), "rollout", WEB)
    assert goal(other, mode, Wanted(WEB.key, "u-web", images)) != base


def test_keep_warms_goal_is_its_horizon() -> None:
    base = goal(policy(), "keep-warm", WEB)
    assert goal(policy(keep='refresh_before = "3h"'), "keep-warm", WEB) != base
    assert goal(policy(keep='interval = "5s"'), "keep-warm", WEB) == base


def series(goal_: str | None, age: timedelta, attempts: int = 2) -> dict[str, object]:
    return {
        "goal": goal_, "attempts": attempts, "since": None,
        "last_request_at": canonical_time(NOW - age), "request_ids": ["r1", "r2"],
    }  # fmt: skip


def test_the_same_goal_recently_goes_on() -> None:
    mine = goal(policy(), "rollout", WEB)
    carried = carry(series(mine, timedelta(minutes=3)), "rollout", mine, NOW, HOUR)
    assert carried.attempts == Attempts(2, NOW - timedelta(minutes=3))
    assert carried.why_not is None
    # a writer's clock ahead of ours: young, not negative
    ahead = carry(series(mine, -timedelta(seconds=5)), "rollout", mine, NOW, HOUR)
    assert ahead.attempts == Attempts(2, NOW + timedelta(seconds=5))


def test_no_series_is_nothing_to_say() -> None:
    mine = goal(policy(), "rollout", WEB)
    assert carry(None, "rollout", mine, NOW, HOUR).attempts is None
    assert carry(None, "rollout", mine, NOW, HOUR).why_not is None


@pytest.mark.parametrize("theirs", ["g1-0000000000000000", None])
def test_another_goal_starts_from_zero_and_says_why(theirs: str | None) -> None:
    mine = goal(policy(), "rollout", WEB)
    carried = carry(series(theirs, timedelta(minutes=3)), "rollout", mine, NOW, HOUR)
    assert carried.attempts is None
    assert carried.why_not == (
        "policy changed since the open rollout series (2 requests, the newest 3m ago): "
        "other images or gate; its retries start from 0"
    )


def test_an_old_series_starts_from_zero_and_says_why() -> None:
    mine = goal(policy(), "keep-warm", WEB)
    carried = carry(series(mine, timedelta(hours=7), 1), "keep-warm", mine, NOW, 6 * HOUR)
    assert carried.attempts is None
    assert carried.why_not is not None
    assert carried.why_not.startswith(
        "the open keep-warm series (1 request, the newest 7h ago) is older than 6h"
    )
    assert carry(series(mine, 6 * HOUR), "keep-warm", mine, NOW, 6 * HOUR).attempts is not None


def test_the_age_bound_is_never_below_the_longest_backoff() -> None:
    assert max_age(21600, policy()) == timedelta(hours=6)
    assert max_age(60, policy()) == timedelta(minutes=30)  # [pace] backoff_max's default
    assert max_age(60, policy(pace='backoff_max = "2h"')) == timedelta(hours=2)
