"""The bridge's HTTP port without brokers: the probes' answers from a real event loop (running,
stuck, closed) and the role gauge and its log line; that the bridge sets them right is tested on
the real brokers (tests/integration/bridge/test_bridge_standby.py)."""

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from precache.bridge.health import HealthApp, serve
from precache.bridge.metrics import BridgeMetrics
from precache.bridge.status import BridgeStatus, Role
from precache.errors import ConfigError
from tests.support.worker import free_port


def get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_healthz_is_503_while_the_loop_is_stuck_and_metrics_still_answer(
    loop: asyncio.AbstractEventLoop,
) -> None:
    metrics = BridgeMetrics()
    port = free_port()
    body = {"status": "ready", "role": "standby"}
    server = serve(port, HealthApp(metrics.registry, loop, lambda: (True, body)))
    assert server is not None
    try:
        assert get(port, "/healthz") == (200, b'{"status": "ok"}')
        assert get(port, "/readyz") == (200, json.dumps(body).encode())
        loop.call_soon_threadsafe(time.sleep, 3)  # a blocking call on the loop
        time.sleep(0.2)
        status, text = get(port, "/healthz")
        assert status == 503
        assert json.loads(text)["reason"] == "the event loop did not answer within 2 s"
        status, text = get(port, "/metrics")  # its own thread: answers all the same
        assert status == 200
        assert b"precache_bridge_role" in text
    finally:
        server.shutdown()


def test_readyz_is_503_with_the_reason() -> None:
    loop = asyncio.new_event_loop()
    loop.close()  # and /healthz on a closed loop
    port = free_port()
    body = {"status": "not ready", "role": "disconnected", "reason": "not connected to RabbitMQ"}
    server = serve(port, HealthApp(BridgeMetrics().registry, loop, lambda: (False, body)))
    assert server is not None
    try:
        assert get(port, "/readyz") == (503, json.dumps(body).encode())
        status, text = get(port, "/healthz")
        assert (status, json.loads(text)["reason"]) == (503, "the event loop is closed")
    finally:
        server.shutdown()


def test_each_role_change_is_one_log_line_and_moves_the_gauge() -> None:
    metrics = BridgeMetrics()
    status = BridgeStatus(metrics.role)

    def gauge() -> dict[str, float | None]:
        sample = metrics.registry.get_sample_value
        return {r.value: sample("precache_bridge_role", {"role": r.value}) for r in Role}

    assert gauge() == {"disconnected": 1, "connected": 0, "standby": 0, "active": 0}
    with capture_logs() as logs:
        status.set_role(Role.CONNECTED)
        status.set_role(Role.STANDBY)
        status.delivered()
        status.delivered()  # already active: no line
        status.set_role(Role.DISCONNECTED)
    changes = [(e["previous"], e["role"]) for e in logs if e["event"] == "bridge role changed"]
    assert changes == [
        ("disconnected", "connected"),
        ("connected", "standby"),
        ("standby", "active"),
        ("active", "disconnected"),
    ]
    assert gauge() == {"disconnected": 1, "connected": 0, "standby": 0, "active": 0}


def test_a_port_in_use_is_a_config_error() -> None:
    loop = asyncio.new_event_loop()
    port = free_port()
    app = HealthApp(BridgeMetrics().registry, loop, lambda: (True, {}))
    first = serve(port, app)
    try:
        with pytest.raises(ConfigError, match=f"setting metrics_port: cannot listen on {port}"):
            serve(port, app)
    finally:
        assert first is not None
        first.shutdown()
        loop.close()
