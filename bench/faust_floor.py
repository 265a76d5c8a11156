"""The faust floor: a no-op agent on the worker's own faust app, transport and batching.

    .venv/bin/python -m bench.faust_floor --expect N [--records M]   (PRECACHE_* settings)

What ``precache worker`` could reach if applying a batch cost nothing: the app is
:func:`precache.pipeline.app.faust_app` (the worker's consumer and producer settings, the
``precache-kafka://`` transport with its fetch wait, direct delivery and skip of other traffic),
with ONE agent on the raw topic whose body is ``async for batch in take_ready(stream,
batch_max)`` counting ``len(batch)``; events are acked by ``take_ready`` as in the worker. No
tables, no sends. It runs in a process of its own (faust owns its process and event loop), on
a fresh consumer group, and stops itself (SIGTERM to itself, faust's own shutdown) once the
agent has seen ``--expect`` records and the consumer has read ``--records`` (the records the
agent sees plus those the transport skipped: other traffic never reaches the agent).

Its one stdout line is JSON: ``first_at``/``last_at`` (wall clock at the end of the first and of
the last batch, as the worker's ``first_applied_at``/``last_applied_at``), ``seen`` (records
through the agent), ``skipped`` (records dropped by the transport), ``read_at_first`` (records
read when ``first_at`` was taken), ``cpu_s`` (process CPU, every thread, from ``first_at`` to
``last_at``), ``batches`` and ``peak_rss_mib`` (VmHWM). :func:`run_floor` starts it and reads
that line.
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from bench.support import LOG_DIR, ROOT, free_port, proc_status, settings_env
from precache.pipeline.settings import WorkerSettings

LABEL = "faust floor (no-op agent, precache transport)"


@dataclass
class Floor:
    """What the agent saw; printed as the result line."""

    seen: int = 0
    skipped: int = 0
    batches: int = 0
    read_at_first: int = 0
    first_at: float | None = None
    last_at: float | None = None
    cpu_s: float = 0.0
    peak_rss_mib: float = 0.0


def run_floor(
    settings: WorkerSettings, expect: int, records: int | None = None, timeout: float = 900
) -> dict[str, Any]:
    """Run the floor on ``settings.raw_topic`` (its own group, data dir and web port) until the
    agent saw ``expect`` records and ``records`` were read (default: ``expect``); its figures."""
    group = f"{settings.app_id}-floor-{uuid.uuid4().hex[:6]}"
    own = settings.model_copy(
        update={"app_id": group, "web_port": free_port(), "data_dir": LOG_DIR / group}
    )
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{group}.log"
    argv = [sys.executable, "-m", "bench.faust_floor", f"--expect={expect}"]
    if records is not None:
        argv.append(f"--records={records}")
    with log.open("ab") as err:
        done = subprocess.run(
            argv,
            cwd=ROOT,
            env=settings_env(own),
            stdout=subprocess.PIPE,
            stderr=err,
            timeout=timeout,
            check=False,
        )
    lines = [ln for ln in done.stdout.decode().splitlines() if ln.startswith('{"floor"')]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"faust floor failed (exit {done.returncode}); see {log}")
    result: dict[str, Any] = json.loads(lines[-1])["floor"]
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.faust_floor", description=__doc__.splitlines()[0])
    parser.add_argument("--expect", type=int, required=True, help="records the agent must see")
    parser.add_argument("--records", type=int, default=None, help="records of the topic")
    args = parser.parse_args(argv)
    records = args.records if args.records is not None else args.expect
    settings = WorkerSettings()
    _run(settings, args.expect, records)
    return 0


def _run(settings: WorkerSettings, expect: int, records: int) -> None:
    import faust

    from precache import logs
    from precache.pipeline.app import faust_app
    from precache.pipeline.batching import take_ready

    logs.configure(settings.log_level)
    app = faust_app(settings)
    raw = app.topic(
        settings.raw_topic,
        partitions=settings.raw_partitions,
        key_serializer="raw",
        value_serializer="raw",
    )
    floor = Floor()
    out = sys.stdout  # the result line only: logs go to stderr (redirect_stdouts off below)
    cpu0 = 0.0
    finished = False

    def check() -> None:
        """Stop once everything was seen: print the result, then stop as on SIGTERM."""
        nonlocal finished
        floor.skipped = app.transport_options.skips.dropped
        if finished or floor.first_at is None:
            return
        if floor.seen < expect or floor.seen + floor.skipped < records:
            return
        finished = True
        floor.last_at = max(floor.last_at or 0.0, time.time())
        floor.cpu_s = time.process_time() - cpu0
        # VmHWM, not ru_maxrss: Linux carries the latter over exec from the forking parent
        floor.peak_rss_mib = proc_status(os.getpid(), "VmHWM")
        out.write(json.dumps({"floor": asdict(floor)}) + "\n")
        out.flush()
        os.kill(os.getpid(), signal.SIGTERM)

    async def count(stream: Any) -> None:
        nonlocal cpu0
        async for batch in take_ready(stream, settings.batch_max):
            floor.seen += len(batch)
            floor.batches += 1
            floor.last_at = time.time()
            if floor.first_at is None:
                floor.first_at, cpu0 = floor.last_at, time.process_time()
                floor.read_at_first = floor.seen + app.transport_options.skips.dropped
            check()

    async def watch_skips() -> None:
        """Other traffic read after the last counted record never wakes the agent."""
        while not finished:
            await asyncio.sleep(0.005)
            check()

    app.agent(raw, concurrency=1, name="floor")(count)
    if records > expect:
        app.task(watch_skips)

    class Worker(faust.Worker):
        def on_setup_root_logger(self, logger: Any, level: int) -> None:
            logs.configure(settings.log_level)

    worker = Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.spinner = None  # as in precache/cli/worker_cmd.py: no root logger at DEBUG
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
