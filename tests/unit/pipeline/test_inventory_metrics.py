"""The inventory on ``/metrics`` (pipeline.inventory_metrics, pipeline.inventory_tally): the
counts kept as entries change equal a walk over every entry's view, for any order of writes,
at any time; only owned partitions count; nothing is given while the table recovers. (A real
chain: tests/integration/test_inventory_metrics.py.)"""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from precache.pipeline.inventory import Expiry, Policy, State, Touch, merge, parse_time, view
from precache.pipeline.inventory_agent import InventoryStats
from precache.pipeline.inventory_metrics import WITHIN, InventoryMetrics
from precache.pipeline.inventory_store import InventoryStore
from precache.pipeline.inventory_tally import ImageTally, expiring, expiring_within
from tests.support.scrape import Scrape

BASE = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = Policy(
    Expiry(min_age_s=7_200, manager_interval_s=2_400),
    {"never": Expiry(manager_interval_s=-1), "fast": Expiry(min_age_s=600, manager_interval_s=0)},
)
BOUNDED_LABELS = {"region", "state", "within", "kind", "reason", "le"}


def at(minutes: int) -> str:
    """A minute's start: the tally's resolution, so a walk over the views agrees exactly."""
    return (BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def new_store(table: dict[str, Any]) -> InventoryStore:
    s = InventoryStore(table, 1_000)
    s.recovered()
    return s


def touch(s: InventoryStore, t: Touch, partition: int) -> None:
    after = merge(s.get_entry(t.region, t.host, t.image), t)
    if after is not None:
        s.put_entry(after, partition)


def scrape(collector: InventoryMetrics) -> Scrape:
    registry = CollectorRegistry()
    registry.register(collector)
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    return Scrape({f.name for f in families}, [s for f in families for s in f.samples])


def walk(s: InventoryStore, owned: set[int], now: datetime) -> dict[tuple[str, ...], int]:
    """What the metrics should say, from every entry's view (docs/inventory.md)."""
    out: dict[tuple[str, ...], int] = {}
    for key in s.image_keys(owned):
        hit = dict.fromkeys(WITHIN, False)
        for entry in s.entries(key).values():
            row = view(entry, POLICY)
            state = ("entries", key[0], row["state"])
            out[state] = out.get(state, 0) + 1
            if row["state"] != "cached" or row["expires_at"] is None:
                continue
            for within, seconds in WITHIN.items():
                soon = parse_time(row["expires_at"]) <= now + timedelta(seconds=seconds)
                if soon and parse_time(row["gone_by"]) > now:
                    copies = ("copies", key[0], within)
                    out[copies] = out.get(copies, 0) + 1
                    hit[within] = True
        for within, found in hit.items():
            images = ("images", key[0], within)
            out[images] = out.get(images, 0) + found
    return {k: v for k, v in out.items() if v}


def read(scraped: Scrape) -> dict[tuple[str, ...], int]:
    names = {
        "precache_worker_inventory_entries": ("entries", "state"),
        "precache_worker_image_copies_expiring": ("copies", "within"),
        "precache_worker_images_expiring": ("images", "within"),
    }
    out: dict[tuple[str, ...], int] = {}
    for sample in scraped.samples:
        if sample.name in names and sample.value:
            kind, label = names[sample.name]
            out[(kind, sample.labels["region"], sample.labels[label])] = int(sample.value)
    return out


def test_the_kept_counts_equal_a_walk_over_every_entry_at_any_time() -> None:
    rnd = random.Random(7)
    table: dict[str, Any] = {}
    s = new_store(table)
    owned = {0, 2}
    clock = [0.0]
    collector = InventoryMetrics(s, InventoryStats(), POLICY, lambda: owned, lambda: clock[0])
    for _ in range(3_000):  # overwrites, older touches, failures after a copy, a copy after
        region = rnd.choice(["r1", "never", "fast"])
        image = rnd.choice(["i1", "i2", "i3"])
        state: State = rnd.choice(["cached", "cached", "failed"])
        t = Touch(region, f"h{rnd.randrange(60)}", image, state, at(rnd.randrange(0, 600)))
        touch(s, t, partition=(len(region) + int(image[1])) % 4)
    assert any(k[0] == "copies" for k in walk(s, owned, BASE + timedelta(hours=2)))
    for minutes in (-60, 0, 59, 60, 61, 119, 120, 125, 300, 360, 500, 600, 700, 900):
        now = BASE + timedelta(minutes=minutes)
        clock[0] = now.timestamp()
        assert read(scrape(collector)) == walk(s, owned, now), minutes
    # rebuilt from the table (a restart, a rebalance): the same counts
    rebuilt = new_store(table)
    clock[0] = (BASE + timedelta(minutes=150)).timestamp()
    again = InventoryMetrics(rebuilt, InventoryStats(), POLICY, lambda: owned, lambda: clock[0])
    assert read(scrape(again)) == read(scrape(collector)) != {}


def test_a_copy_counts_until_it_is_presumed_purged() -> None:
    tally = ImageTally()
    entry = merge(None, Touch("r1", "h1", "i1", "cached", at(0)))
    assert entry is not None
    tally.change(None, entry)
    expiry = POLICY.default  # expires at +120 min, gone by +160 min
    count = {m: expiring(tally, expiry, (BASE + timedelta(minutes=m)).timestamp(), 3_600) for m in
             (0, 59, 60, 100, 159, 160)}  # fmt: skip
    assert count == {0: 0, 59: 0, 60: 1, 100: 1, 159: 1, 160: 0}
    failed = merge(entry, Touch("r1", "h1", "i1", "failed", at(1)))
    assert failed is not None
    tally.change(entry, failed)
    assert (tally.cached, tally.failed, tally.minutes) == (0, 1, {})
    assert expiring(tally, POLICY.of("never"), BASE.timestamp(), 10**9) == 0


def test_only_owned_partitions_count_and_nothing_while_recovering() -> None:
    s = new_store({})
    owned = {1}
    stats = InventoryStats()
    collector = InventoryMetrics(s, stats, POLICY, lambda: owned, lambda: BASE.timestamp())
    touch(s, Touch("r1", "h1", "i1", "cached", at(0)), 1)
    touch(s, Touch("r1", "h2", "i1", "failed", at(0)), 1)
    touch(s, Touch("r1", "h1", "i2", "cached", at(0)), 0)  # another worker's partition
    first = scrape(collector)
    assert first.value("precache_worker_inventory_entries", region="r1", state="cached") == 1
    assert first.value("precache_worker_inventory_entries", region="r1", state="failed") == 1
    assert first.value("precache_worker_inventory_ready") == 1
    s.forget_index()  # a rebalance: no level until the table is recovered again
    recovering = scrape(collector)
    assert recovering.value("precache_worker_inventory_ready") == 0
    assert not [x for x in recovering.samples if x.name == "precache_worker_inventory_entries"]
    assert "precache_worker_images_expiring" in recovering.families  # declared all the same


def test_the_agents_counts_and_the_label_conventions() -> None:
    stats = InventoryStats()
    stats.applied["touch"] = 5
    stats.skipped["membership"] = 2
    stats.dead["bad_inventory_record"] = 1
    stats.apply_s.observe_many([0.02, 0.3])
    s = new_store({})
    touch(s, Touch("r1", "h1", "i1", "cached", at(0)), 0)
    scraped = scrape(InventoryMetrics(s, stats, POLICY, lambda: {0}, lambda: BASE.timestamp()))
    assert scraped.value("precache_worker_inventory_inputs_applied_total", kind="touch") == 5
    assert scraped.value("precache_worker_inventory_inputs_applied_total", kind="membership") == 0
    assert scraped.value("precache_worker_inventory_inputs_skipped_total", kind="membership") == 2
    reason = "bad_inventory_record"
    assert scraped.value("precache_worker_inventory_dead_lettered_total", reason=reason) == 1
    assert scraped.value("precache_worker_inventory_apply_seconds_count") == 2
    for sample in scraped.samples:
        assert sample.name.startswith("precache_worker_"), sample.name
        assert set(sample.labels) <= BOUNDED_LABELS, (sample.name, sample.labels)


def test_an_image_with_more_minutes_than_the_window_is_read_minute_by_minute() -> None:
    tally = ImageTally()
    cached = list(range(0, 3_000, 2))  # 1,500 minutes: more than the 6 h + 40 min window
    for minute in cached:
        entry = merge(None, Touch("r1", f"h{minute}", "i1", "cached", at(minute)))
        assert entry is not None
        tally.change(None, entry)
    expiry = POLICY.default  # expires at +120 min, gone by +160 min
    for now_min in (0, 100, 1_000, 2_500, 3_200):
        now = (BASE + timedelta(minutes=now_min)).timestamp()
        windows = list(WITHIN.values())
        got = expiring_within(tally, expiry, now, windows)
        want = [
            sum(1 for m in cached if m + 120 <= now_min + w / 60 and m + 160 > now_min)
            for w in windows
        ]
        assert got == want, now_min
        assert [expiring(tally, expiry, now, w) for w in windows] == want
