"""One harness: ``.venv/bin/python -m bench <name> [options]``.

Each benchmark prints a human table, then as its last line one JSON object: its figures, the
command, the machine (bench/machine.py) and the git commit. ``-m bench list`` names them.
"""

import asyncio
import importlib
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from bench.machine import describe
from bench.support import result_line

# name -> (module, what it measures)
BENCHMARKS = {
    "e2e": ("bench.e2e", "latency Nova -> completed event, whole chain, against a direct watcher"),
    "mixed": ("bench.mixed", "worker on 90 % other traffic against a plain aiokafka consumer"),
    "scale": ("bench.scale", "CPU per 1,000 notifications and RSS per component, 10k -> 1M"),
    "pipeline": ("bench.pipeline_throughput", "worker notifications/s, small and large operations"),
    "bridge": ("bench.bridge_throughput", "raw kombu, raw aiokafka and the bridge process"),
    "failover": ("bench.failover", "standby bridge: SIGKILL/SIGSTOP of the active one to takeover"),
    "amqp": ("bench.amqp_transport", "py-amqp's TCP transport against the bridge's chunked one"),
    "startup": ("bench.stack_startup", "precache stack up: cold, warm, already up"),
    "inventory": (
        "bench.inventory",
        "image cache inventory, 100k hosts x 10 images: RSS, recovery, GET",
    ),
    "rollout-reads": (
        "bench.rollout_reads",
        "one rollout pass's reads of GET /operations: the whole list against the filters",
    ),
    "inventory-metrics": (
        "bench.inventory_metrics",
        "the inventory's /metrics at 100k hosts x 10 images: write and scrape cost, in-process",
    ),
    "outage": (
        "bench.outage",
        "CPU and log lines of the bridge and the worker while Kafka is down",
    ),
}

Runner = Callable[[list[str]], Coroutine[Any, Any, tuple[str, dict[str, Any]]]]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("list", "-h", "--help"):
        print(__doc__)
        for name, (_, what) in BENCHMARKS.items():
            print(f"  {name:<9} {what}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(f"bench: unknown benchmark {name!r} (see: -m bench list)", file=sys.stderr)
        return 2
    run: Runner = importlib.import_module(BENCHMARKS[name][0]).run
    print(f"machine: {describe()}", flush=True)
    print(f"command: .venv/bin/python -m bench {' '.join(argv)}", flush=True)
    text, figures = asyncio.run(run(rest))
    print(text)
    print(result_line(name, rest, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
