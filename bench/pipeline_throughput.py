"""pipeline: the worker's notifications/s against a plain aiokafka consumer.

    .venv/bin/python -m bench pipeline --ops 200 --hosts 1000 --big-hosts 100000

1. Preloads a fresh raw topic with ``--ops`` operations x ``--hosts`` hosts (start, progress,
   end; 2% of hosts fail an image) and reads it back with a plain aiokafka consumer.
2. The faust floor (bench/faust_floor.py) reads it: the worker's faust app and transport with
   a no-op agent over ``take_ready``; its rate is counted as the worker's is (below).
3. Starts ``precache worker`` (changelog-backed memory tables) on it and measures, from its
   ``/stats/`` counter, notifications/s from the first to the last applied notification.
4. Runs one ``--small-hosts`` operation and one ``--big-hosts`` operation through fresh workers:
   per-host cost must stay flat; peak RSS is the worker's VmHWM.
"""

import argparse
import asyncio
import os
import random
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.faust_floor import LABEL, run_floor
from bench.support import LOG_DIR, catch_up, produce, table, worker_settings
from bench.synthetic import SyntheticOperation, hostnames
from precache.kafka_connection import client_options
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.topics import ensure_topics
from precache.stack import StackSettings


def settings(
    bootstrap: str, tag: str, coalesce: bool = False, store: str = "memory"
) -> WorkerSettings:
    return worker_settings(bootstrap, tag, status_coalesce=coalesce, store=store)


async def preload(s: WorkerSettings, ops: int, hosts: int, seed: int) -> int:
    rng = random.Random(seed)
    names = hostnames(hosts)
    total = 0
    for _ in range(ops):
        failed = {h: ["img-1"] for h in rng.sample(names, max(1, hosts // 50))}
        op = SyntheticOperation(hosts=names, images=["img-1", "img-2"], failed=failed)
        records = op.records()
        for i in range(0, len(records), 20_000):
            await produce(s.kafka_bootstrap, s.raw_topic, records[i : i + 20_000])
        total += len(records)
    return total


async def plain_consumer_rate(s: WorkerSettings, total: int) -> float:
    consumer = AIOKafkaConsumer(
        s.raw_topic,
        **client_options(s),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen, began = 0, time.monotonic()
    try:
        while seen < total:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                seen += len(records)
    finally:
        await consumer.stop()
    return total / (time.monotonic() - began)


def worker_rate(s: WorkerSettings, total: int) -> dict[str, Any]:
    """Run a worker until it applied ``total`` notifications; rate and peak RSS.

    The rate is (applied - 1) / (last - first applied), from the worker's own clock; an
    ``.end`` after its operation completed counts as ``late`` (rule R7), processed all the same.
    """
    run = catch_up(s, total, poll_s=0.5)
    elapsed = run.applied_s
    done = run.stats["applied"] + run.stats.get("late", 0)
    return {
        "rate": (done - 1) / elapsed,
        "peak_rss_mb": run.peak_rss_mib,
        "elapsed_s": elapsed,
        "batch": run.mean_batch,
    }


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", default=None)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--small-hosts", type=int, default=1000)
    parser.add_argument("--big-hosts", type=int, default=100_000)
    parser.add_argument("--status-coalesce", action="store_true")
    parser.add_argument("--store", choices=["memory", "rocksdb"], default="memory")
    args = parser.parse_args(argv)
    bootstrap = args.kafka or StackSettings().kafka_bootstrap
    os.makedirs(LOG_DIR, exist_ok=True)

    s = settings(bootstrap, "many", args.status_coalesce, args.store)
    await ensure_topics(s)
    total = await preload(s, args.ops, args.hosts, seed=1)
    plain = await plain_consumer_rate(s, total)
    floor = await asyncio.to_thread(run_floor, s, total)
    # as worker_rate counts: (records - 1) / (end of the last batch - end of the first)
    floor_rate = (floor["seen"] - 1) / (floor["last_at"] - floor["first_at"])
    floor_cpu_us = floor["cpu_s"] / max(1, floor["seen"] - floor["read_at_first"]) * 1e6
    result = await asyncio.to_thread(worker_rate, s, total)
    rows = [
        [f"{args.ops} ops x {args.hosts} hosts: {total:,} notifications", plain, floor_rate,
         result["rate"], result["rate"] / plain, result["rate"] / floor_rate,
         result["peak_rss_mb"], result["batch"]],
    ]  # fmt: skip
    figures: dict[str, Any] = {
        "notifications": total,
        "plain_rate": round(plain),
        "floor_rate": round(floor_rate),
        "floor_cpu_us_per_record": round(floor_cpu_us, 2),
        "floor_mean_batch": round(floor["seen"] / max(1, floor["batches"]), 1),
        "worker_rate": round(result["rate"]),
        "ratio": round(result["rate"] / plain, 3),
        "worker_vs_floor": round(result["rate"] / floor_rate, 3),
        "worker_peak_rss_mib": round(result["peak_rss_mb"]),
        "mean_batch": round(result["batch"], 1),
    }
    for hosts in (args.small_hosts, args.big_hosts):
        s = settings(bootstrap, f"one-{hosts}", args.status_coalesce, args.store)
        await ensure_topics(s)
        total = await preload(s, 1, hosts, seed=2)
        r = await asyncio.to_thread(worker_rate, s, total)
        rows.append(
            [f"1 op x {hosts:,} hosts ({1e6 / r['rate']:.0f} us each)", "", "", r["rate"], "",
             "", r["peak_rss_mb"], r["batch"]]
        )  # fmt: skip
        figures[f"one_op_{hosts}_rate"] = round(r["rate"])
        figures[f"one_op_{hosts}_peak_rss_mib"] = round(r["peak_rss_mb"])
    text = table(
        ["run", "plain aiokafka consumer /s", f"{LABEL} /s", "precache worker /s", "ratio",
         "worker / floor", "peak RSS MiB", "mean batch"],
        rows,
    )  # fmt: skip
    return text, figures
