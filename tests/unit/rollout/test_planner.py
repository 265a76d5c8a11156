"""The reconciler's rules: reasons, the gate reused, pacing, retries with backoff."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from precache.pipeline.inventory import write_time
from precache.rollout.planner import (
    Attempts,
    InFlight,
    Observed,
    TargetKey,
    TargetState,
    Wanted,
    human,
    plan,
)
from precache.rollout.policy import parse_policy

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
IMG = "img-1"


def policy(extra: str = "", require: str = "100%", valid_for: str = "6h"):
    return parse_policy(
        f'images = ["{IMG}"]\n'
        '[[target]]\ncloud = "a"\naggregates = ["w1", "w2", "w3"]\n'
        '[[target]]\ncloud = "b"\naggregates = ["w1"]\n'
        f'[gate]\nrequire = "{require}"\nvalid_for = "{valid_for}"\n{extra}'
    )


TARGETS = [
    Wanted(TargetKey("a", "w1"), "u-a1", (IMG,)),
    Wanted(TargetKey("a", "w2"), "u-a2", (IMG,)),
    Wanted(TargetKey("a", "w3"), "u-a3", (IMG,)),
    Wanted(TargetKey("b", "w1"), "u-b1", (IMG,)),
]


def row(host: str, state: str = "cached", expires_in: timedelta | None = timedelta(days=1)):
    return {
        "host": host,
        "state": state,
        "reason": "reported_failed" if state == "failed" else None,
        "touched_at": write_time(NOW - timedelta(hours=1)),
        "expires_at": None if expires_in is None else write_time(NOW + expires_in),
    }


def held(n: int = 4) -> Observed:
    hosts = tuple(f"h{i}" for i in range(n))
    return Observed(hosts, {IMG: [row(h) for h in hosts]})


def lacking() -> Observed:
    """3 missing, 2 failed, 1 expiring in 1h40m, 1 fine."""
    hosts = tuple(f"h{i}" for i in range(7))
    rows = [
        row("h3", "failed"),
        row("h4", "failed"),
        row("h5", expires_in=timedelta(hours=1, minutes=40)),
        row("h6"),
    ]
    return Observed(hosts, {IMG: rows})


def all_of(seen: Observed) -> dict[TargetKey, Observed]:
    return {t.key: seen for t in TARGETS}


def test_reasons_as_an_operator_reads_them() -> None:
    p = plan(policy(), "rollout", TARGETS[:1], all_of(lacking()), [], {}, NOW)
    [request] = p.requests
    assert request.reasons == (
        "missing on 3 hosts",
        "failed last time on 2 hosts",
        "expires in 1h40m on 1 host",
    )
    assert request.images == (IMG,)
    assert request.attempt == 1


def test_a_target_whose_gate_holds_gets_no_request() -> None:
    p = plan(policy(), "rollout", TARGETS, all_of(held()), [], {}, NOW)
    assert p.requests == []
    assert {v.state for v in p.verdicts.values()} == {TargetState.READY}


def test_the_gate_share_is_the_inventory_gate() -> None:
    """19 of 20 hosts: 95% holds, 100% does not."""
    hosts = tuple(f"h{i}" for i in range(20))
    seen = Observed(hosts, {IMG: [row(h) for h in hosts[1:]]})
    assert (
        plan(policy(require="95%"), "rollout", TARGETS[:1], all_of(seen), [], {}, NOW).requests
        == []
    )
    assert len(plan(policy(), "rollout", TARGETS[:1], all_of(seen), [], {}, NOW).requests) == 1


def test_only_the_images_that_fall_short_are_requested() -> None:
    other = "img-2"
    wanted = [Wanted(TargetKey("a", "w1"), "u-a1", (IMG, other))]
    hosts = ("h0", "h1")
    seen = Observed(hosts, {IMG: [row("h0"), row("h1")], other: [row("h0")]})
    [request] = plan(policy(), "rollout", wanted, {wanted[0].key: seen}, [], {}, NOW).requests
    assert request.images == (other,)
    assert request.reasons == ("missing on 1 host",)


def test_pace_per_region_and_in_all() -> None:
    p = plan(
        policy("[pace]\nin_flight_per_region = 2\nin_flight = 10"),
        "rollout", TARGETS, all_of(lacking()), [], {}, NOW,
    )  # fmt: skip
    assert [str(r.key) for r in p.requests] == ["a/w1", "a/w2", "b/w1"]
    assert p.verdicts[TargetKey("a", "w3")].state == TargetState.QUEUED
    p = plan(
        policy("[pace]\nin_flight_per_region = 2\nin_flight = 2"),
        "rollout", TARGETS, all_of(lacking()), [InFlight("b", "u-other", "req-x")], {}, NOW,
    )  # fmt: skip
    assert [str(r.key) for r in p.requests] == ["a/w1"]


def test_never_two_operations_for_one_aggregate() -> None:
    flying = [InFlight("a", "u-a1", None)]  # somebody else's, seen by the worker
    p = plan(policy(), "rollout", TARGETS[:1], all_of(lacking()), flying, {}, NOW)
    assert p.requests == []
    assert p.verdicts[TARGETS[0].key].state == TargetState.IN_FLIGHT


def test_retries_back_off_then_rollout_gives_up() -> None:
    pol = policy('[pace]\nretry_failed = 2\nbackoff = "10s"\nbackoff_max = "15s"')
    key = TARGETS[0].key
    seen = all_of(lacking())

    def verdict(count: int, ago_s: float):
        tried = {key: Attempts(count, NOW - timedelta(seconds=ago_s))}
        return plan(pol, "rollout", TARGETS[:1], seen, [], tried, NOW)

    assert verdict(1, 5).verdicts[key].state == TargetState.BACKOFF  # 10 s after the first
    assert verdict(1, 11).requests[0].attempt == 2
    assert verdict(2, 11).verdicts[key].state == TargetState.BACKOFF  # 20 s capped to 15 s
    assert verdict(2, 16).requests[0].attempt == 3
    assert verdict(3, 1000).verdicts[key].state == TargetState.FAILED
    keep = plan(pol, "keep-warm", TARGETS[:1], seen, [], {key: Attempts(3, NOW)}, NOW)
    assert keep.verdicts[key].state == TargetState.BACKOFF  # keep-warm never gives up
    assert keep.verdicts[key].retry_at == NOW + timedelta(seconds=15)


def test_keep_warm_refreshes_before_expiry_and_missing_hosts() -> None:
    pol = policy('[keep]\nrefresh_before = "2h"', valid_for="0s")
    hosts = ("h0", "h1")
    soon = Observed(hosts, {IMG: [row("h0"), row("h1", expires_in=timedelta(minutes=90))]})
    later = Observed(hosts, {IMG: [row("h0"), row("h1", expires_in=timedelta(hours=3))]})
    joined = Observed((*hosts, "h2"), later.rows)
    key = TARGETS[0].key
    [r] = plan(pol, "keep-warm", TARGETS[:1], {key: soon}, [], {}, NOW).requests
    assert r.reasons == ("expires in 1h30m on 1 host",)
    assert plan(pol, "keep-warm", TARGETS[:1], {key: later}, [], {}, NOW).requests == []
    assert plan(pol, "rollout", TARGETS[:1], {key: soon}, [], {}, NOW).requests == []
    [r] = plan(pol, "keep-warm", TARGETS[:1], {key: joined}, [], {}, NOW).requests
    assert r.reasons == ("missing on 1 host",)


def test_human_periods() -> None:
    assert human(timedelta(hours=1, minutes=40)) == "1h40m"
    assert human(timedelta(days=1, hours=2)) == "1d2h"
    assert human(timedelta(minutes=45, seconds=3)) == "45m"
    assert human(timedelta(seconds=30)) == "30s"


states = st.sampled_from(["cached", "failed", "missing", "expiring"])


@settings(max_examples=200, deadline=None)
@given(
    hosts=st.lists(st.lists(states, min_size=1, max_size=6), min_size=4, max_size=4),
    busy=st.sets(st.sampled_from(["u-a1", "u-a2", "u-a3", "u-b1"])),
    per_region=st.integers(1, 3),
    in_all=st.integers(1, 5),
)
def test_properties_of_any_plan(hosts, busy, per_region, in_all) -> None:
    """Whatever the inventory: no request for a ready target or a busy aggregate, the pace is
    kept, a target is requested iff its gate fails and the pace and backoff allow it."""
    pol = policy(f"[pace]\nin_flight_per_region = {per_region}\nin_flight = {in_all}")
    observed = {}
    for target, states_ in zip(TARGETS, hosts, strict=True):
        names = tuple(f"h{i}" for i in range(len(states_)))
        rows = [
            row(h, "cached" if s == "expiring" else s,
                timedelta(hours=1) if s == "expiring" else timedelta(days=1))
            for h, s in zip(names, states_, strict=True) if s != "missing"
        ]  # fmt: skip
        observed[target.key] = Observed(names, {IMG: rows})
    flying = [
        InFlight(t.key.region, t.aggregate_uuid, None) for t in TARGETS if t.aggregate_uuid in busy
    ]
    p = plan(pol, "rollout", TARGETS, observed, flying, {}, NOW)
    requested = {r.key for r in p.requests}
    for target, states_ in zip(TARGETS, hosts, strict=True):
        ok = all(s == "cached" for s in states_)
        v = p.verdicts[target.key]
        if target.aggregate_uuid in busy:
            assert v.state == TargetState.IN_FLIGHT
        elif ok:
            assert v.state == TargetState.READY
        else:
            assert v.state in (TargetState.REQUEST, TargetState.QUEUED)
        assert (target.key in requested) == (v.state == TargetState.REQUEST)
    for region in ("a", "b"):
        open_ = sum(1 for f in flying if f.region == region)
        asked = sum(1 for r in p.requests if r.key.region == region)
        assert asked == 0 or open_ + asked <= per_region
    assert not p.requests or len(flying) + len(p.requests) <= in_all
