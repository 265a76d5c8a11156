"""README's first command, `precache demo`, on the real local stack (smaller than the default)."""

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable

import pytest

from precache.stack import StackSettings, stack_status
from tests.support.worker import free_port

pytestmark = pytest.mark.integration


def test_demo_prints_the_announcement_summary_and_exits_like_the_watcher(
    stack: StackSettings, unique_name: Callable[[str], str]
) -> None:
    port = free_port()
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
        str(port),
        "--stay",
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
    demo = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert demo.stderr is not None
    said = []
    try:
        for line in demo.stderr:  # --stay: once the operation is done, the dashboard stays up
            said.append(line)
            if line.startswith(f"dashboard http://127.0.0.1:{port}/ stays up"):
                break
        page, operations = _get(port, "/"), json.loads(_get(port, "/operations"))
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    done = subprocess.CompletedProcess(argv, demo.returncode, out, "".join(said) + err)
    assert "<title>precache: image pre-cache operations</title>" in page
    [operation] = operations["operations"]
    assert (operation["state"], operation["hosts_failed"]) == ("completed", 3)

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


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return str(response.read().decode())
