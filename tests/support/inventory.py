"""Reading the image cache inventory back in the tests: the worker's HTTP view, polled until it
shows what a test waits for, and the ``precache images`` command."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.support.worker import WorkerProcess

Rows = dict[str, dict[str, Any]]  # host -> row


def image_rows(worker: WorkerProcess, image: str, **query: str) -> Rows | None:
    """Every host row of ``image`` (all regions, or ``region=``) as the worker answers; None
    while it cannot answer (503: recovering, or a peer is gone and not yet replaced)."""
    q = "&".join(f"{k}={v}" for k, v in {"hosts": "1", **query}.items())
    status, body = worker.get(f"/images/{image}?{q}")
    if status == 404:
        return {}
    if status == 503:
        return None
    assert status == 200, body
    return {r["host"]: r for s in body["images"] for r in s["hosts"]}


async def wait_for(read: Callable[[], Any], done: Callable[[Any], bool], within: float = 60) -> Any:
    """``read()`` until ``done`` holds; the last value either way (the test's asserts say why).
    Reads in a thread and sleeps with asyncio: a test runs the bridge in its own event loop,
    and a loop blocked here forwards nothing (a notification sent just before the wait stayed
    in the bridge until the wait gave up)."""
    deadline = time.monotonic() + within
    value = await asyncio.to_thread(read)
    while not done(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        value = await asyncio.to_thread(read)
    return value


def run_images(worker_url: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``precache images ...`` against ``worker_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECACHE_") or "STACK" in k}
    env["PRECACHE_WORKER_URL"] = worker_url
    return subprocess.run(
        [sys.executable, "-m", "precache.cli", "images", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
