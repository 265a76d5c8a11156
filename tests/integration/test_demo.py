"""README's first command, `precache demo`, on the real local stack (smaller than the default)."""

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from precache.stack import StackSettings, stack_status
from tests.support.worker import free_port

pytestmark = pytest.mark.integration


def test_demo_prints_the_announcement_summary_and_exits_like_the_watcher(
    stack: StackSettings, unique_name: Callable[[str], str]
) -> None:
    argv = [
        sys.executable,
        "-m",
        "precache.cli",
        "demo",
        "--hosts",
        "20",
        "--failing",
        "2-4",
        "--delay",
        "0.05",
        "--web-port",
        str(free_port()),
    ]
    env = {**os.environ, "PRECACHE_STACK_STATE_DIR": str(stack.state_dir)}  # the tests' stack
    # its own topics, group and queue: what other tests left on the shared stack is not its
    # business (the components refuse a wrongly made topic, which the demo then reports)
    app = unique_name("demo")
    for name in (
        "raw", "ticks", "status", "completed", "host_failed", "stalled", "inventory", "image_cache",
    ):  # fmt: skip
        env[f"PRECACHE_{name.upper()}_TOPIC"] = f"{app}.{name}"
    env["PRECACHE_DLQ_TOPIC"] = f"{app}.bridge-dlq"
    env["PRECACHE_PIPELINE_DLQ_TOPIC"] = f"{app}.dlq"
    env["PRECACHE_APP_ID"] = app
    env["PRECACHE_QUEUE"] = app
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False, env=env)

    assert done.returncode == 1, done.stderr  # hosts 2-4 fail on purpose
    lines = done.stdout.splitlines()
    assert lines[0] == "Image cache started on 20 hosts"
    assert "Aggregate 'my-application' host 20: 100% complete (3 errors)" in lines
    assert lines[-5:] == [
        "Errors from hosts:",
        "guaranine2",
        "guaranine3",
        "guaranine4",
        "Image c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2 failed 3 times",
    ]
    assert "precache bridge" in done.stderr
    assert "precache worker" in done.stderr
    assert all(s.answering for s in stack_status(stack)), (
        "the demo stopped a stack it did not start"
    )
