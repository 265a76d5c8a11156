"""The probes of a bridge or worker as a service manager sees them: status and JSON body."""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

Answer = tuple[int, dict[str, Any]]


def probe(port: int, path: str, timeout: float = 5) -> Answer | None:
    """GET ``path`` on 127.0.0.1:``port``: (status, JSON body); None if nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return int(r.status), json.loads(r.read())
    except urllib.error.HTTPError as err:
        return int(err.code), json.loads(err.read())
    except (OSError, TimeoutError):
        return None


def wait_for(
    port: int, path: str, wanted: Callable[[Answer], bool], timeout: float = 60
) -> list[Answer]:
    """Probe every 0.1 s until an answer is ``wanted``; every answer seen, that one last."""
    seen: list[Answer] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = probe(port, path)
        if answer is not None:
            seen.append(answer)
            if wanted(answer):
                return seen
        time.sleep(0.1)
    raise AssertionError(f"{path} on port {port} never as wanted in {timeout} s: {seen[-3:]}")


def metric(port: int, name: str, labels: str) -> float | None:
    """One sample of /metrics, e.g. ``metric(p, "precache_bridge_role", 'role="active"')``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    return None
