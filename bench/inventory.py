"""inventory: the image cache inventory at 100,000 hosts x 10 images, RocksDB store.

Preloads a fresh raw topic with ``--aggregates`` pre-cache operations that together cover
``--hosts`` hosts, each caching ``--images`` images (so hosts x images inventory entries), and
lets one ``precache worker`` catch up. Then: the worker's RSS, ``GET /images/{image}``
latency (the per-image summary, kept until the image changes; its first computation, asked
with ``?aggregate=`` so it is not yet kept; and with ``?hosts=1``, every host's row), and the
recovery after a restart: from the new process's start until ``/images/{image}`` answers
with the whole inventory again (faust's recovery of the table, then the index built from it);
``GET /metrics`` latency, loaded and after the restart (the inventory's levels included).
"""

import argparse
import json
import time
import urllib.error
import urllib.request
from typing import Any

from bench.support import WorkerProcess, proc_status, produce_many, table, worker_settings
from bench.synthetic import Record, SyntheticOperation, hostnames
from precache.pipeline.topics import ensure_topics
from precache.stack import StackSettings

FIRST_AGGREGATE = "agg-0"


def stream(hosts: int, images: int, aggregates: int) -> list[Record]:
    names = hostnames(hosts)
    per = -(-hosts // aggregates)
    imgs = [f"img-{i}" for i in range(images)]
    records: list[Record] = []
    for a in range(aggregates):
        op = SyntheticOperation(
            hosts=names[a * per : (a + 1) * per], images=imgs, aggregate_name=f"agg-{a}"
        )
        records += op.records()
    return records


def get(url: str) -> tuple[int, Any, float]:
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    elapsed = (time.perf_counter() - began) * 1000
    return status, json.loads(body) if body else None, elapsed


def complete(worker: WorkerProcess, images: int, hosts: int, path: str) -> bool:
    try:
        status, body, _ = get(worker.url + path)
    except OSError:
        return False
    if status != 200:
        return False
    cached = {s["image"]: s["cached"] for s in body["images"]}
    return len(cached) == images and all(n == hosts for n in cached.values())


def wait_complete(worker: WorkerProcess, images: int, hosts: int, within: float) -> float:
    """Until every image is cached on every host: the last image polled every 2 s (a summary
    of 100k hosts is work for the worker), then all of them."""
    began = time.monotonic()
    last = f"/images/img-{images - 1}"
    while not (complete(worker, 1, hosts, last) and complete(worker, images, hosts, "/images")):
        if worker.proc is not None and worker.proc.poll() is not None:
            raise RuntimeError(f"worker exited\n{worker.tail()}")
        if time.monotonic() - began > within:
            raise RuntimeError(f"inventory not complete in {within}s\n{worker.tail()}")
        time.sleep(2.0)
    return time.monotonic() - began


def latencies(worker: WorkerProcess, images: int, n: int, query: str = "") -> dict[str, float]:
    times = []
    for i in range(n):
        status, _, ms = get(f"{worker.url}/images/img-{i % images}{query}")
        assert status == 200, status
        times.append(ms)
    times.sort()
    last = len(times) - 1
    return {"p50": times[last // 2], "p99": times[(last * 99) // 100], "max": times[last]}


def scrape_ms(worker: WorkerProcess, n: int) -> dict[str, float]:
    """``GET /metrics`` latency (the inventory's levels are read from kept counts)."""
    times = []
    for _ in range(n):
        began = time.perf_counter()
        with urllib.request.urlopen(worker.url + "/metrics", timeout=60) as r:
            assert b"precache_worker_inventory_entries{" in r.read()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    last = len(times) - 1
    return {"p50": times[last // 2], "p99": times[(last * 99) // 100], "max": times[last]}


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench inventory", description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--aggregates", type=int, default=10)
    parser.add_argument("--store", choices=["memory", "rocksdb"], default="rocksdb")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    bootstrap = StackSettings().kafka_bootstrap
    s = worker_settings(bootstrap, "inventory", store=args.store)
    await ensure_topics(s)
    records = stream(args.hosts, args.images, args.aggregates)
    await produce_many(bootstrap, s.raw_topic, records)
    worker = WorkerProcess(s).start()
    try:
        load_s = wait_complete(worker, args.images, args.hosts, 3600)
        rss_loaded = proc_status(worker.pid, "VmRSS")
        peak_loaded = proc_status(worker.pid, "VmHWM")
        cold = latencies(worker, args.images, args.images, f"?aggregate={FIRST_AGGREGATE}")
        summary = latencies(worker, args.images, args.requests)
        detail = latencies(worker, args.images, max(5, args.requests // 20), "?hosts=1")
        metrics = scrape_ms(worker, args.requests)
        worker.stop()
        worker = WorkerProcess(s).start()
        recovery_s = wait_complete(worker, args.images, args.hosts, 3600)
        rss_recovered = proc_status(worker.pid, "VmRSS")
        peak_recovered = proc_status(worker.pid, "VmHWM")
        after = latencies(worker, args.images, args.requests)
        metrics_after = scrape_ms(worker, args.requests)
    finally:
        worker.stop()
    entries = args.hosts * args.images
    figures = {
        "entries": entries,
        "store": args.store,
        "load_s": round(load_s, 1),
        "rss_mib_loaded": round(rss_loaded, 1),
        "peak_rss_mib_loaded": round(peak_loaded, 1),
        "recovery_s": round(recovery_s, 1),
        "rss_mib_recovered": round(rss_recovered, 1),
        "peak_rss_mib_recovered": round(peak_recovered, 1),
        "get_image_ms": {k: round(v, 1) for k, v in summary.items()},
        "get_image_uncached_ms": {k: round(v, 1) for k, v in cold.items()},
        "get_image_hosts_ms": {k: round(v, 1) for k, v in detail.items()},
        "get_image_after_restart_ms": {k: round(v, 1) for k, v in after.items()},
        "get_metrics_ms": {k: round(v, 1) for k, v in metrics.items()},
        "get_metrics_after_restart_ms": {k: round(v, 1) for k, v in metrics_after.items()},
    }
    rows = [
        ["entries", entries],
        ["notifications", len(records)],
        ["catch-up until complete (s)", load_s],
        ["RSS loaded / peak (MiB)", f"{rss_loaded:,.0f} / {peak_loaded:,.0f}"],
        ["recovery after restart (s)", recovery_s],
        ["RSS recovered / peak (MiB)", f"{rss_recovered:,.0f} / {peak_recovered:,.0f}"],
        ["GET /images/{image} p50 / p99 (ms)", f"{summary['p50']:.1f} / {summary['p99']:.1f}"],
        ["... first ask per image (summary computed) max (ms)", f"{cold['max']:.1f}"],
        ["... ?hosts=1 p50 / p99 (ms)", f"{detail['p50']:.1f} / {detail['p99']:.1f}"],
        ["... after restart p50 / p99 (ms)", f"{after['p50']:.1f} / {after['p99']:.1f}"],
        ["GET /metrics p50 / p99 (ms)", f"{metrics['p50']:.1f} / {metrics['p99']:.1f}"],
        [
            "... after restart p50 / p99 (ms)",
            f"{metrics_after['p50']:.1f} / {metrics_after['p99']:.1f}",
        ],
    ]
    return table(["figure", "value"], rows), figures
