"""The inventory's rules (pipeline.inventory): exact under duplicates and any arrival order,
the forecast from Nova's two settings, memberships, and the rollout gate."""

from datetime import datetime, timedelta
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from precache.contract import ImageCacheEvent
from precache.pipeline import inventory_events
from precache.pipeline.inventory import (
    Expiry,
    Membership,
    Policy,
    Touch,
    gate,
    image_summary,
    merge,
    merge_membership,
    state_of,
    summarize,
    view,
)
from tests.support.schemas import schema_validator

POLICY = Policy(Expiry(86_400, 2_400), {"never": Expiry(86_400, -1), "fast": Expiry(60, 0)})


def at(s: int) -> str:
    return (datetime(2026, 12, 1) + timedelta(seconds=s)).isoformat(timespec="microseconds") + "Z"


def apply(touches: list[Touch]) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for t in touches:
        after = merge(entries.get(t.key), t)
        if after is not None:
            entries[t.key] = after
    return entries


touch = st.builds(
    Touch,
    region=st.sampled_from(["r1", "r2"]),
    host=st.sampled_from(["h1", "h2", "h3"]),
    image=st.sampled_from(["i1", "i2"]),
    state=st.sampled_from(["cached", "failed"]),
    at=st.integers(0, 5).map(at),
    operation_id=st.sampled_from([None, "op-a", "op-b"]),
    request_id=st.sampled_from([None, "req-a"]),
)


@given(st.lists(touch, max_size=30), st.randoms())
def test_any_order_and_duplicates_give_the_same_inventory(touches, rnd):
    shuffled = touches + touches[: len(touches) // 2]  # redelivered duplicates
    rnd.shuffle(shuffled)
    assert apply(shuffled) == apply(touches)


@given(st.lists(touch, min_size=1, max_size=30))
def test_the_newest_touch_decides_the_state(touches):
    entries = apply(touches)
    for key, entry in entries.items():
        mine = [t for t in touches if t.key == key]
        newest = max(t.at for t in mine)
        assert state_of(entry) in {t.state for t in mine if t.at == newest}
        cached = [t.at for t in mine if t.state == "cached"]
        assert view(entry, POLICY)["cached_at"] == (max(cached) if cached else None)


def test_a_failure_after_a_cache_keeps_the_file_forecast():
    cached = Touch("r1", "h1", "i1", "cached", at(0), "op-a", "req-a")
    failed = Touch("r1", "h1", "i1", "failed", at(10), "op-b", "req-b", reason="reported_failed")
    row = view(apply([failed, cached])["r1/h1/i1"], POLICY)
    assert row["state"] == "failed"
    assert row["reason"] == "reported_failed"
    assert row["operation_id"] == "op-b"
    assert row["cached_at"] == at(0)
    assert row["expires_at"] == at(86_400)
    recached = Touch("r1", "h1", "i1", "cached", at(20), "op-c", "req-c")
    row = view(apply([failed, cached, recached])["r1/h1/i1"], POLICY)
    assert (row["state"], row["reason"], row["operation_id"]) == ("cached", None, "op-c")
    assert row["expires_at"] == at(20 + 86_400)  # a re-cache moves the expiry


def test_forecast_follows_each_regions_settings():
    def row(region: str) -> dict[str, Any]:
        entry = merge(None, Touch(region, "h", "i", "cached", at(0)))
        assert entry is not None
        return view(entry, POLICY)

    assert (row("r1")["expires_at"], row("r1")["gone_by"]) == (at(86_400), at(86_400 + 2_400))
    assert (row("never")["expires_at"], row("never")["gone_by"]) == (None, None)
    assert (row("fast")["expires_at"], row("fast")["gone_by"]) == (at(60), at(120))  # 0: 60 s


def test_never_cached_has_no_forecast():
    entry = merge(None, Touch("r1", "h", "i", "failed", at(0), reason="reported_failed"))
    assert entry is not None
    assert view(entry, POLICY)["expires_at"] is None


membership = st.builds(
    Membership,
    region=st.just("r1"),
    uuid=st.just("agg"),
    name=st.sampled_from(["a", "b"]),
    hosts=st.lists(st.sampled_from(["h1", "h2", "h3"]), unique=True).map(tuple),
    at=st.integers(0, 3).map(at),
    deleted=st.booleans(),
)


@given(st.lists(membership, min_size=1, max_size=10), st.randoms())
def test_the_newest_membership_wins_in_any_order(records, rnd):
    def fold(items: list[Membership]) -> Membership | None:
        current = None
        for m in items:
            current = merge_membership(current, m) or current
        return current

    def seen(m: Membership | None) -> tuple[Any, ...]:
        assert m is not None
        return (m.at, m.deleted, m.name, frozenset(m.hosts))  # host order carries nothing

    shuffled = list(records)
    rnd.shuffle(shuffled)
    assert seen(fold(shuffled)) == seen(fold(records))
    assert seen(fold(records)) == seen(max(records, key=Membership.order))


def rows(*specs: tuple[str, str, int]) -> list[dict[str, Any]]:
    out = []
    for host, state, t in specs:
        reason = "reported_failed" if state == "failed" else None
        entry = merge(None, Touch("r1", host, "i", state, at(t), reason=reason))  # type: ignore[arg-type]
        assert entry is not None
        out.append(view(entry, POLICY))
    return out


def test_gate_counts_the_share_of_hosts_that_hold_the_image_long_enough():
    now = datetime.fromisoformat(at(0))
    views = rows(("h1", "cached", 0), ("h2", "cached", -80_000), ("h3", "failed", 0))
    members = ["h1", "h2", "h3", "h4"]
    result = gate(members, views, 0.5, now, timedelta(hours=6))
    assert not result.ok
    assert result.held == 1
    assert [(s.host, s.why) for s in result.short] == [
        ("h2", "expiring"),
        ("h3", "failed"),
        ("h4", "missing"),
    ]
    assert gate(members, views, 0.5, now).ok  # h2 still holds it right now: 2 of 4
    assert gate(members, views, 0.25, now, timedelta(hours=6)).ok
    assert not gate([], views, 0.0, now).ok  # an empty (or unknown) aggregate never passes


def test_image_summary_counts_per_aggregate():
    views = rows(("h1", "cached", 0), ("h2", "cached", 10), ("h3", "failed", 0))
    agg = Membership("r1", "agg", "a", ("h1", "h3", "h4"), at(0))
    gone = Membership("r1", "old", "x", (), at(0), deleted=True)
    summary = image_summary(views, [agg, gone])
    assert summary["cached"] == 2
    assert summary["failed"] == 1
    assert (summary["earliest_expiry"], summary["latest_expiry"]) == (at(86_400), at(86_410))
    assert summary["aggregates"] == [
        {"uuid": "agg", "name": "a", "hosts": 3, "cached": 1, "failed": 1, "missing": 1}
    ]


def test_the_image_cache_event_meets_its_schema_and_keeps_its_id():
    entry = merge(None, Touch("r1", "h1", "i1", "cached", at(0), "op", "req"))
    assert entry is not None
    key, value = inventory_events.encode(entry, POLICY)
    assert key == b"r1/h1/i1"
    event = orjson.loads(value)
    schema_validator("precache.image.cache").validate(event)
    assert ImageCacheEvent.model_validate(event).data.expires_at == at(86_400)
    assert inventory_events.encode(entry, POLICY) == (key, value)


@given(
    st.lists(touch, max_size=40),
    st.lists(st.sampled_from(["h1", "h2", "h3", "h4"]), unique=True),
    st.sampled_from(["r1", "never"]),
)
def test_the_fast_summary_is_the_summary_of_the_views(touches, hosts, region):
    touches = [Touch(region, t.host, "i1", t.state, t.at, t.operation_id) for t in touches]
    entries = list(apply(touches).values())
    agg = [Membership(region, "agg", "a", tuple(hosts), at(0))]
    views = [view(e, POLICY) for e in entries]
    assert summarize(entries, agg, POLICY, region) == image_summary(views, agg)
