"""scale: 10 regions x 100 concurrent operations; the worker's cost per notification as the
stream grows from 10k to 1M notifications.

Each step preloads a fresh raw topic with ``--regions`` x ``--ops`` operations running at the
same time (all starts, then the progress of every operation interleaved, then the ends); the
hosts per operation grow with the step (10k notifications: 10 hosts each, 1M: 1,000 hosts
each). A fresh ``precache worker`` (changelog tables) catches up; the table gives its CPU
seconds per 1,000 notifications (/proc) from its first applied notification to its last, and
until it is idle again (so the inventory agent's trailing share counts too), its
rate and its peak RSS. Flat CPU per 1,000 from the first step to the last is the target. The
bridge's cost per notification does not depend on the stream's length (it keeps no state):
``bench bridge`` measures it.

``--floor``: after the worker, the faust floor (``bench/faust_floor.py``: a no-op agent on the
worker's own faust app and transport) reads the same topic; its CPU per 1,000 notifications is
what reading the raw topic through faust costs before the worker does anything with it.
"""

import argparse
import asyncio
import time
from typing import Any

from bench.faust_floor import run_floor
from bench.support import (
    catch_up,
    produce_many,
    table,
    worker_settings,
)
from bench.synthetic import Record, SyntheticOperation, hostnames
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.topics import ensure_topics
from precache.stack import StackSettings


def stream(regions: int, ops: int, hosts: int) -> list[Record]:
    """Every operation of every region at once: starts, interleaved progress, ends. Each
    operation caches two images on an aggregate of its own (hosts of its own), as a rollout
    over many aggregates does: every notification changes two inventory entries."""
    running = [
        SyntheticOperation(
            hosts=hostnames(hosts, f"r{r}a{a}-cmp"), images=["img-1", "img-2"], region=f"region-{r}"
        )
        for r in range(regions)
        for a in range(ops)
    ]
    records = [op.start() for op in running]
    progress = [op.all_progress() for op in running]
    for i in range(hosts):
        records += [p[i] for p in progress]
    records += [op.end() for op in running]
    return records


def worker_run(s: WorkerSettings, total: int) -> dict[str, float]:
    run = catch_up(s, total, until_idle=True)
    elapsed = run.applied_s
    return {
        "rate": (run.stats["applied"] + run.stats.get("late", 0) - 1) / elapsed,
        "cpu_s_per_1000": run.cpu_s / run.cpu_records * 1000,
        "applied_cpu_s_per_1000": run.applied_cpu_s / run.cpu_records * 1000,
        "peak_rss_mib": run.peak_rss_mib,
        "mean_batch": run.mean_batch,
    }


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench scale", description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=10)
    parser.add_argument("--ops", type=int, default=100, help="concurrent operations per region")
    parser.add_argument(
        "--steps", default="10000,100000,1000000", help="notifications per step (comma list)"
    )
    parser.add_argument("--store", choices=["memory", "rocksdb"], default="memory")
    parser.add_argument(
        "--floor", action="store_true", help="and the faust floor on the same topic"
    )
    args = parser.parse_args(argv)
    bootstrap = StackSettings().kafka_bootstrap
    rows: list[list[Any]] = []
    figures: dict[str, Any] = {}
    for step in (int(x) for x in args.steps.split(",")):
        hosts = max(1, step // (args.regions * args.ops))
        records = stream(args.regions, args.ops, hosts)
        s = worker_settings(bootstrap, f"scale-{step}", store=args.store)
        await ensure_topics(s)
        began = time.monotonic()
        await produce_many(bootstrap, s.raw_topic, records)
        preload_s = time.monotonic() - began
        r = await asyncio.to_thread(worker_run, s, len(records))
        if args.floor:
            floor = await asyncio.to_thread(run_floor, s, len(records))
            seen = max(1, len(records) - floor["read_at_first"])
            r["floor_cpu_s_per_1000"] = floor["cpu_s"] / seen * 1000
        rows.append(
            [f"{len(records):,}", hosts, r["rate"], r["applied_cpu_s_per_1000"],
             r["cpu_s_per_1000"], r.get("floor_cpu_s_per_1000", "-"), r["peak_rss_mib"],
             r["mean_batch"], preload_s]
        )  # fmt: skip
        figures[str(len(records))] = {k: round(v, 3) for k, v in r.items()}
    text = "\n".join(
        [
            f"{args.regions} regions x {args.ops} concurrent operations, store {args.store}",
            table(
                [
                    "notifications",
                    "hosts per op",
                    "worker /s",
                    "worker CPU s per 1,000 (to last applied)",
                    "worker CPU s per 1,000 (until idle)",
                    "faust floor CPU s per 1,000 (--floor)",
                    "worker peak RSS MiB",
                    "mean batch",
                    "preload s",
                ],
                rows,
            ),
        ]
    )
    return text, figures
