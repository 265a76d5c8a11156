"""inventory-metrics: what the inventory's ``/metrics`` costs at 100,000 hosts x 10 images.

In one process, no Kafka: the worker's inventory store (over a plain dict, as faust's memory
store is) filled with ``--hosts`` x ``--images`` entries through ``put_entry``, the path the
inventory agent writes by. Measured: the write per entry (index and the counts ``/metrics``
reads, :mod:`pipeline.inventory_tally`) and of the counts alone; one scrape (the collector and
prometheus_client's text) with the copies cached over ``--spread`` minutes, and, for scale, a
walk over every entry's view (what a scrape would cost without the kept counts). Then the
same with ``--many-images`` images of fewer hosts each: a scrape costs per image.
"""

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from bench.support import table
from precache.pipeline.inventory import Expiry, Policy, State, Touch, merge, view
from precache.pipeline.inventory_agent import InventoryStats
from precache.pipeline.inventory_metrics import InventoryMetrics
from precache.pipeline.inventory_store import InventoryStore
from precache.pipeline.inventory_tally import ImageTally

BASE = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = Policy(Expiry(min_age_s=86_400, manager_interval_s=2_400))


def fill(hosts: int, images: int, spread_min: int, seed: int = 1) -> tuple[InventoryStore, float]:
    """A store of hosts x images entries, one in twenty failed; seconds spent writing them."""
    rnd = random.Random(seed)
    store = InventoryStore({}, 64_000)
    store.recovered()
    entries = []
    for i in range(images):
        for h in range(hosts):
            at = BASE + timedelta(seconds=rnd.randrange(spread_min * 60))
            state: State = "failed" if rnd.random() < 0.05 else "cached"
            text = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            touch = Touch("region-a", f"compute-{h:06d}", f"img-{i}", state, text, "op", "req")
            entry = merge(None, touch)
            assert entry is not None
            entries.append(entry)
    began = time.perf_counter()
    for n, entry in enumerate(entries):
        store.put_entry(entry, n % 4)
    return store, time.perf_counter() - began


def tally_cost(store: InventoryStore) -> float:
    """Seconds to count every entry of ``store`` into fresh tallies (the kept counts alone)."""
    keys = store.image_keys({0, 1, 2, 3})
    began = time.perf_counter()
    for key in keys:
        tally = ImageTally()
        for entry in store.entries(key).values():
            tally.change(None, entry)
    return time.perf_counter() - began


def scrape_ms(store: InventoryStore, now: float, n: int = 20) -> tuple[float, int]:
    registry = CollectorRegistry()
    registry.register(InventoryMetrics(store, InventoryStats(), POLICY, lambda: {0, 1, 2, 3},
                                       lambda: now))  # fmt: skip
    times = []
    for _ in range(n):
        began = time.perf_counter()
        text = generate_latest(registry)
        times.append((time.perf_counter() - began) * 1000)
    return sorted(times)[n // 2], len(text)


def walk_ms(store: InventoryStore) -> float:
    """Every entry's view once: what an O(entries) scrape would do at the least."""
    began = time.perf_counter()
    for key in store.image_keys({0, 1, 2, 3}):
        for entry in store.entries(key).values():
            view(entry, POLICY)
    return (time.perf_counter() - began) * 1000


def measure(hosts: int, images: int, spread: int) -> dict[str, Any]:
    store, write_s = fill(hosts, images, spread)
    entries = hosts * images
    # at 24 h + 20 min: copies from the first 40 minutes are past gone_by, the rest expiring
    now = (BASE + timedelta(minutes=1_460)).timestamp()
    scrape, size = scrape_ms(store, now)
    return {
        "hosts": hosts,
        "images": images,
        "entries": entries,
        "put_entry_us": round(write_s / entries * 1e6, 2),
        "tally_us": round(tally_cost(store) / entries * 1e6, 2),
        "minute_buckets": sum(len(t.minutes) for _, t in store.tallies({0, 1, 2, 3})),
        "scrape_ms": round(scrape, 2),
        "scrape_bytes": size,
        "walk_ms": round(walk_ms(store), 1),
    }


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(
        prog="bench inventory-metrics", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--many-images", type=int, default=1_000)
    parser.add_argument("--spread", type=int, default=120, help="minutes the touches span")
    args = parser.parse_args(argv)
    runs = [
        measure(args.hosts, args.images, args.spread),
        measure(args.hosts * args.images // args.many_images, args.many_images, args.spread),
    ]
    rows = [
        [f"{r['hosts']:,} hosts x {r['images']:,} images", r["put_entry_us"], r["tally_us"],
         f"{r['minute_buckets']:,}", r["scrape_ms"], r["walk_ms"]]
        for r in runs
    ]  # fmt: skip
    headers = [
        "inventory",
        "put_entry per entry (us)",
        "of which counts (us)",
        "minute buckets kept",
        "one scrape (ms)",
        "walk over every view (ms)",
    ]
    return table(headers, rows), {"runs": runs}
