"""rollout-reads: what one pass of ``precache rollout`` reads of ``GET /operations``, before and
after the filters.

Preloads a fresh raw topic with ``--completed`` completed operations spread over ``--regions``
regions and ``--running`` running ones, lets one ``precache worker`` catch up, then times
``--requests`` rounds of each way a pass reads the operations: the whole list (what the loop
read before the filters), and the three filtered reads it makes now (running in the policy's
regions, completed within the settle window, its own by request id). Figures: bytes and
milliseconds per pass, p50 and p99, as a client sees them (HTTP included).
"""

import argparse
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.support import WorkerProcess, produce_many, table, worker_settings
from bench.synthetic import Record, SyntheticOperation, hostnames
from precache.pipeline.topics import ensure_topics
from precache.stack import StackSettings


def stream(completed: int, running: int, regions: int) -> tuple[list[Record], list[str]]:
    """The records, and the request ids of the running operations (the pass's own)."""
    hosts = hostnames(3)
    start = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
    records: list[Record] = []
    for i in range(completed):
        op = SyntheticOperation(
            hosts=hosts, images=["img-1"], region=f"region-{i % regions}",
            started=start + timedelta(seconds=i),
        )  # fmt: skip
        records += op.records()
    ours = []
    for i in range(running):
        op = SyntheticOperation(hosts=hosts, images=["img-1"], region=f"region-{i % regions}")
        records += [op.start(), op.progress(hosts[0], 1)]
        ours.append(str(op.request_id))
    return records, ours


def read(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as r:
        return len(r.read())


def timed(urls: list[str], rounds: int) -> dict[str, float]:
    times, size = [], 0
    for _ in range(rounds):
        began = time.perf_counter()
        size = sum(read(u) for u in urls)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    last = len(times) - 1
    return {"bytes": size, "p50_ms": times[last // 2], "p99_ms": times[(last * 99) // 100]}


def wait_for(worker: WorkerProcess, count: int, within: float) -> None:
    began = time.monotonic()
    while True:
        status, body = worker.get("/operations?state=completed")
        if status == 200 and body["count"] >= count:
            return
        if time.monotonic() - began > within:
            raise RuntimeError(f"worker did not catch up in {within}s\n{worker.tail()}")
        time.sleep(2.0)


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(
        prog="bench rollout-reads", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--completed", type=int, default=5000)
    parser.add_argument("--running", type=int, default=20)
    parser.add_argument("--regions", type=int, default=10)
    parser.add_argument("--policy-regions", type=int, default=2)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args(argv)
    bootstrap = StackSettings().kafka_bootstrap
    s = worker_settings(bootstrap, "rollout-reads")
    await ensure_topics(s)
    records, ours = stream(args.completed, args.running, args.regions)
    await produce_many(bootstrap, s.raw_topic, records)
    worker = WorkerProcess(s).start()
    try:
        worker.wait_ready()
        wait_for(worker, args.completed, 1800)
        base = worker.url + "/operations?"
        regions = [("region", f"region-{i}") for i in range(args.policy_regions)]
        mine = [r for i, r in enumerate(ours) if i % args.regions < args.policy_regions]
        since = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        filtered = [
            base + urllib.parse.urlencode([("state", "running"), *regions]),
            base + urllib.parse.urlencode([("completed_since", since), *regions]),
            base + urllib.parse.urlencode([("request_id", r) for r in mine]),
        ]
        whole = timed([worker.url + "/operations"], args.requests)
        passes = timed(filtered, args.requests)
    finally:
        worker.stop()
    figures = {
        "operations": args.completed + args.running,
        "whole_list": whole,
        "filtered_pass": passes,
    }
    rows = [
        ("GET /operations (before)", whole["bytes"], whole["p50_ms"], whole["p99_ms"]),
        ("3 filtered reads (now)", passes["bytes"], passes["p50_ms"], passes["p99_ms"]),
    ]
    text = table(("one pass reads", "bytes", "p50 ms", "p99 ms"), rows)
    return text, figures
