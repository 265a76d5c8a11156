"""mixed: the worker on a raw topic where 90 % of the records are other Nova notifications,
against a plain aiokafka consumer reading the same topic.

1. Preloads a fresh raw topic: ``--ops`` operations x ``--hosts`` hosts (start, progress, end),
   each record after ``--others`` other notifications (Nova's own samples, bench/traffic.py).
2. The plain consumer: aiokafka ``getmany`` over the whole topic, the ``event_type`` header of
   every record read, each cache_images record parsed (orjson) and its host counted in a dict:
   the Python floor, no durability.
3. The faust floor (bench/faust_floor.py): the worker's faust app and transport (other traffic
   skipped before faust) with a no-op agent over ``take_ready``; its rate and CPU per record
   are counted as the worker's are: every record of the topic, from its first batch on.
4. ``precache worker`` (changelog tables, defaults) catches up on the same topic; its rate is
   the records of the topic over the time from its first applied notification to the moment
   its ``/stats/`` counters account for every record of the topic; its CPU and peak RSS come
   from /proc.
"""

import argparse
import random
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from bench.faust_floor import LABEL, run_floor
from bench.support import (
    catch_up,
    produce_many,
    table,
    worker_settings,
)
from bench.synthetic import Record, SyntheticOperation, hostnames, interleave
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.topics import ensure_topics
from precache.stack import StackSettings

PREFIX = b"aggregate.cache_images."


def operations(ops: int, hosts: int, seed: int) -> list[Record]:
    rng = random.Random(seed)
    names = hostnames(hosts)
    out: list[Record] = []
    for _ in range(ops):
        failed = {h: ["img-1"] for h in rng.sample(names, max(1, hosts // 50))}
        out += SyntheticOperation(hosts=names, images=["img-1", "img-2"], failed=failed).records()
    return out


async def plain_consumer(s: WorkerSettings, total: int) -> dict[str, float]:
    """Read the whole topic, skip by header, count each operation's hosts in a dict."""
    consumer = AIOKafkaConsumer(
        s.raw_topic,
        bootstrap_servers=s.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    hosts: dict[str, int] = {}
    seen, began, cpu0 = 0, 0.0, time.process_time()
    try:
        while seen < total:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                if not began:
                    began = time.monotonic()
                for r in records:
                    seen += 1
                    event_type = next((v for k, v in r.headers if k == "event_type"), b"")
                    if not event_type.startswith(PREFIX):
                        continue
                    message = orjson.loads(r.value)
                    data = message["payload"]["nova_object.data"]
                    op = data["uuid"]
                    hosts[op] = hosts.get(op, 0) + 1
        elapsed = time.monotonic() - began
    finally:
        await consumer.stop()
    cpu = time.process_time() - cpu0
    return {"rate": total / elapsed, "cpu_us_per_record": cpu / total * 1e6}


def floor_run(s: WorkerSettings, counted: int, total: int) -> dict[str, float]:
    """The faust floor until it saw every cache_images record and read every record; counted
    as :func:`worker_run` counts: the topic's records over the time from its first batch."""
    floor = run_floor(s, counted, total)
    elapsed = floor["last_at"] - floor["first_at"]
    return {
        "rate": total / elapsed,
        "cpu_us_per_record": floor["cpu_s"] / max(1, total - floor["read_at_first"]) * 1e6,
        "peak_rss_mib": floor["peak_rss_mib"],
    }


def worker_run(s: WorkerSettings, total: int) -> dict[str, float]:
    """Until the worker has read every record of the topic (applied, late, ignored or dead-
    lettered: other traffic lands on partitions of its own, so the last counted record is not
    the last record read); the rate is from its first applied notification to then."""
    run = catch_up(s, total, ("applied", "late", "ignored", "malformed"), poll_s=0.05)
    return {
        "rate": total / (run.finished_at - run.stats["first_applied_at"]),
        "cpu_us_per_record": run.cpu_s / run.cpu_records * 1e6,
        "peak_rss_mib": run.peak_rss_mib,
        "skipped_unseen": float(run.stats.get("skipped_unseen", 0)),
    }


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench mixed", description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--others", type=int, default=9, help="other records per counted one")
    parser.add_argument("--kafka", default=None)
    args = parser.parse_args(argv)
    bootstrap = args.kafka or StackSettings().kafka_bootstrap

    s = worker_settings(bootstrap, "mixed")
    await ensure_topics(s)
    counted = operations(args.ops, args.hosts, seed=1)
    records = interleave(counted, args.others, random.Random(2))
    await produce_many(bootstrap, s.raw_topic, records)
    total = len(records)
    plain = await plain_consumer(s, total)
    floor = floor_run(s, len(counted), total)
    worker = worker_run(s, total)
    ratio = worker["rate"] / plain["rate"]
    text = "\n".join(
        [
            f"{args.ops} ops x {args.hosts} hosts = {len(counted):,} cache_images records, "
            f"{args.others} other records before each: {total:,} records",
            table(
                ["reader", "records/s", "CPU us/record", "peak RSS MiB"],
                [
                    [
                        "plain aiokafka consumer (header skip, dict count)",
                        plain["rate"],
                        plain["cpu_us_per_record"],
                        "",
                    ],
                    [LABEL, floor["rate"], floor["cpu_us_per_record"], floor["peak_rss_mib"]],
                    [
                        "precache worker",
                        worker["rate"],
                        worker["cpu_us_per_record"],
                        worker["peak_rss_mib"],
                    ],
                ],
            ),
            f"worker / plain = {ratio:.2f} (target >= 0.9); "
            f"floor / plain = {floor['rate'] / plain['rate']:.2f}; "
            f"worker / floor = {worker['rate'] / floor['rate']:.2f}; "
            f"records skipped before faust: {worker['skipped_unseen']:,.0f}",
        ]
    )
    figures = {
        "records": total,
        "counted": len(counted),
        "plain_rate": round(plain["rate"]),
        "plain_cpu_us_per_record": round(plain["cpu_us_per_record"], 2),
        "floor_rate": round(floor["rate"]),
        "floor_cpu_us_per_record": round(floor["cpu_us_per_record"], 2),
        "floor_peak_rss_mib": round(floor["peak_rss_mib"]),
        "floor_ratio": round(floor["rate"] / plain["rate"], 3),
        "worker_rate": round(worker["rate"]),
        "worker_cpu_us_per_record": round(worker["cpu_us_per_record"], 2),
        "worker_peak_rss_mib": round(worker["peak_rss_mib"]),
        "ratio": round(ratio, 3),
    }
    return text, figures
