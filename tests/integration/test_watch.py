"""``precache watch`` as a process on the real Kafka, fed with CloudEvents as the pipeline
writes them: started before an operation, in the middle of one, ``--then``, no Kafka."""

import asyncio
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.support.watch_events import (
    TOPIC_ENV,
    announcement,
    completed,
    create_topics,
    host_failed,
    produce,
    status,
)

pytestmark = pytest.mark.integration

PRECACHE = str(Path(sys.executable).parent / "precache")
OTHER_AGG = {"uuid": "0f0f0f0f-0000-4000-8000-000000000000", "name": "other", "id": 3}


@pytest.fixture
def topics(unique_name: Callable[[str], str]) -> dict[str, str]:
    """Fresh derived topics per test; they do not exist until something produces to them."""
    return {field: unique_name(f"watch-{field.removesuffix('_topic')}") for field in TOPIC_ENV}


class Watcher:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stdout: list[str] = []
        self.stderr: list[str] = []

    async def line(self, expected: str, *, err: bool = False, limit_s: float = 30) -> None:
        """Reads until a line equal to ``expected``: the watcher has reached that point."""
        stream, seen = (self.proc.stderr, self.stderr) if err else (self.proc.stdout, self.stdout)
        assert stream is not None
        while expected not in seen:
            raw = await asyncio.wait_for(stream.readline(), limit_s)
            assert raw, f"watcher ended before {expected!r}; saw {seen}"
            seen.append(raw.decode().rstrip("\n"))

    async def result(self, limit_s: float = 60) -> int:
        out, err = await asyncio.wait_for(self.proc.communicate(), limit_s)
        self.stdout += out.decode().splitlines()
        self.stderr += err.decode().splitlines()
        assert self.proc.returncode is not None
        return self.proc.returncode


async def start_watch(bootstrap: str, topics: dict[str, str], *args: str) -> Watcher:
    env = {**os.environ, "PRECACHE_KAFKA_BOOTSTRAP": bootstrap}
    env.update({TOPIC_ENV[field]: name for field, name in topics.items()})
    proc = await asyncio.create_subprocess_exec(
        PRECACHE,
        "watch",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    return Watcher(proc)


async def test_started_before_the_operation(kafka_bootstrap: str, topics: dict[str, str]) -> None:
    watcher = await start_watch(kafka_bootstrap, topics, "--aggregate", "my-application")
    scripted = await start_watch(kafka_bootstrap, topics, "--json")
    await watcher.line(
        "Waiting for an image cache operation of aggregate 'my-application'", err=True
    )
    await scripted.line("Waiting for an image cache operation", err=True)
    events = announcement()
    await produce(kafka_bootstrap, topics, events)
    assert await watcher.result() == 1
    assert await scripted.result() == 1
    printed = [orjson.loads(line) for line in scripted.stdout]
    failures = [e for e in events if e["type"] == "precache.host.failed"]
    assert [e for e in printed if e["type"] == "precache.host.failed"] == failures
    assert printed[-1]["data"]["state"] == "completed"
    assert watcher.stdout == [
        "Image cache started on 95 hosts",
        "Aggregate 'my-application' host 24: 25% complete (8 errors)",
        "Aggregate 'my-application' host 48: 50% complete (8 errors)",
        "Aggregate 'my-application' host 72: 75% complete (8 errors)",
        "Aggregate 'my-application' host 95: 100% complete (8 errors)",
        "Completed 95 hosts, 8 errors in 2m31s",
        "Errors from hosts:",
        *[f"guaranine{i}" for i in range(2, 10)],
        "Image c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2 failed 8 times",
    ]


async def test_started_in_the_middle_of_an_operation(
    kafka_bootstrap: str, topics: dict[str, str]
) -> None:
    began = datetime.now(UTC) - timedelta(minutes=1)
    run = {"total": 4, "started_at": began}
    await create_topics(kafka_bootstrap, topics)
    await produce(
        kafka_bootstrap,
        topics,
        [
            status("old", **run, reported=4),
            completed("old", **run, reported=4, duration_s=8),
            status("now", **run, reported=1),
            host_failed("h2", "now"),
            status("now", **run, reported=2, failed_hosts=["h2"]),
        ],
    )
    watcher = await start_watch(kafka_bootstrap, topics, "--timeout", "60")
    await watcher.line("Image cache started on 4 hosts")
    # the pipeline caps failed_hosts: the watcher names them from host.failed, old and new
    final = {"reported": 4, "failed_hosts": [], "truncated": True, "hosts_failed": 2}
    await produce(
        kafka_bootstrap,
        topics,
        [completed("now", **run, **final, duration_s=75), host_failed("h3", "now")],
    )
    assert await watcher.result() == 1
    assert watcher.stdout == [
        "Image cache started on 4 hosts",
        "Aggregate 'my-application' host 2: 50% complete (1 errors)",
        "Aggregate 'my-application' host 4: 100% complete (2 errors)",
        "Completed 4 hosts, 2 errors in 1m15s",
        "Errors from hosts:",
        "h2",
        "h3",
        "Image c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2 failed 2 times",
    ]


async def test_then_runs_only_on_success(
    kafka_bootstrap: str, topics: dict[str, str], tmp_path: Path
) -> None:
    ok_flag, bad_flag = tmp_path / "ok", tmp_path / "bad"
    ok = await start_watch(
        kafka_bootstrap, topics, "--aggregate", "my-application", "--then", f"touch {ok_flag}"
    )
    bad = await start_watch(
        kafka_bootstrap, topics, "--aggregate", "other", "--then", f"touch {bad_flag}"
    )
    await ok.line("Waiting for an image cache operation of aggregate 'my-application'", err=True)
    await bad.line("Waiting for an image cache operation of aggregate 'other'", err=True)
    failing = {"aggregate": OTHER_AGG, "total": 2}
    await produce(
        kafka_bootstrap,
        topics,
        [
            status("a", total=2),
            status("b", **failing),
            completed("a", total=2, reported=2, duration_s=3),
            completed("b", **failing, reported=2, failed_hosts=["h1"], duration_s=3),
        ],
    )
    assert await ok.result() == 0
    assert await bad.result() == 1
    assert ok_flag.exists()
    assert not bad_flag.exists()


async def test_unreachable_kafka_exits_3_with_one_line() -> None:
    began = time.monotonic()
    watcher = await start_watch("127.0.0.1:1", {}, "--timeout", "60")
    assert await watcher.result() == 3
    assert time.monotonic() - began < 10
    assert watcher.stdout == []
    assert len(watcher.stderr) == 1
    assert watcher.stderr[0].startswith("error: cannot reach Kafka at 127.0.0.1:1")
