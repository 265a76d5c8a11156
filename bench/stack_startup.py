"""How long ``precache stack up`` takes: cold (nothing downloaded), warm, and when already up.

Runs a throw-away stack on its own ports, state folder, jar cache and Maven repository, so the
cold figure includes the download from Maven Central and nothing of the developer's is touched.

    .venv/bin/python -m bench.stack_startup
"""

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _timed(env: dict[str, str], *args: str) -> float:
    began = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "precache.cli", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - began


async def run(argv: list[str]) -> tuple[str, dict[str, Any]]:
    return await asyncio.to_thread(measure)


def measure() -> tuple[str, dict[str, Any]]:
    work = Path(tempfile.mkdtemp(prefix="precache-bench-stack-"))
    env = {
        **os.environ,
        "PRECACHE_STACK_STATE_DIR": str(work / "state"),
        "PRECACHE_STACK_CACHE_DIR": str(work / "cache"),
        "PRECACHE_STACK_AMQP_PORT": "5972",
        "PRECACHE_STACK_KAFKA_PORT": "9992",
        "PRECACHE_STACK_KAFKA_CONTROLLER_PORT": "9993",
        "MAVEN_OPTS": f"-Dmaven.repo.local={work / 'm2'}",
    }
    try:
        cold = _timed(env, "stack", "up")
        again = _timed(env, "stack", "up")
        _timed(env, "stack", "down")
        warm = _timed(env, "stack", "up")
    finally:
        subprocess.run(
            [sys.executable, "-m", "precache.cli", "stack", "down"],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(
        [
            f"cold (download jars, format storage): {cold:6.1f} s",
            f"warm (jars cached, brokers stopped):  {warm:6.1f} s",
            f"already up:                           {again:6.1f} s",
        ]
    )
    return text, {
        "cold_s": round(cold, 1),
        "warm_s": round(warm, 1),
        "already_up_s": round(again, 1),
    }
