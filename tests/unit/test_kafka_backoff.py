"""Kafka reconnect backoff (precache/kafka_backoff.py): the gate's delays and log lines, and
the fence on the aiokafka method it wraps."""

import inspect
from typing import Any

import pytest
from aiokafka.client import AIOKafkaClient

from precache import kafka_backoff
from precache.kafka_backoff import FIRST_S, JITTER, ReconnectGate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_with_jitter_up_to_the_cap_and_end_on_success() -> None:
    clock = Clock()
    gate = ReconnectGate(cap_s=8.0, clock=clock)
    assert gate.wait_s() == 0
    bases = []
    for _ in range(7):
        gate.failed(1)
        bases.append(gate.delay)
        waited = gate.wait_s()
        # next_at - now in floats: 8.0 can come back as 8.000000000000114
        low, high = (1 - JITTER) * gate.delay, min(8.0, (1 + JITTER) * gate.delay)
        assert low - 1e-9 <= waited <= high + 1e-9
        clock.now += waited
    assert bases == [FIRST_S, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    gate.succeeded(1)
    assert (gate.wait_s(), gate.delay, gate.down_since) == (0, 0.0, None)


def test_failures_of_one_window_count_once() -> None:
    """Many tasks share a broker: their failures in the same window do not double it again."""
    clock = Clock()
    gate = ReconnectGate(cap_s=8.0, clock=clock)
    for _ in range(50):
        gate.failed(1)
    assert (gate.delay, gate.attempts) == (FIRST_S, 50)


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(event)

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append(event)


def test_one_line_per_interval_says_since_when_and_how_often() -> None:
    clock, out = Clock(), Lines()
    gate = ReconnectGate(cap_s=4.0, clock=clock, logger=out)
    for _ in range(40):  # 40 attempts over ~2 minutes
        gate.failed(1)
        clock.now += gate.wait_s()
    gate.succeeded(1)
    unreachable = [line for line in out.lines if line.startswith("Kafka unreachable since")]
    assert 5 <= len(unreachable) <= 15  # one per 10 s, not one per attempt
    assert unreachable[-1].endswith("retrying every 4 s")
    assert out.lines[-1] == "Kafka reachable again"


def test_fence_the_wrapped_aiokafka_method() -> None:
    """kafka_backoff wraps ``AIOKafkaClient._get_conn(node_id, *, group, no_hint)``, which
    returns None when it cannot connect (it logs and asks for a metadata update itself) and
    keeps open connections in ``_conns`` keyed by (node_id, group)."""
    original = kafka_backoff._ORIGINAL
    params = inspect.signature(original).parameters
    assert list(params) == ["self", "node_id", "group", "no_hint"]
    source = inspect.getsource(original)
    assert "conn_id = (node_id, group)" in source
    assert "return None" in source
    assert "self._conns[conn_id]" in source


def test_install_is_idempotent_and_wraps_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AIOKafkaClient, "_get_conn", kafka_backoff._ORIGINAL)  # restored after
    kafka_backoff.install(5.0)
    kafka_backoff.install(5.0)
    assert AIOKafkaClient._get_conn is kafka_backoff._get_conn
