"""Backoff and rate-limited logs: every retry path waits longer each time and logs once per
interval with the count of what it held back."""

import logging
from typing import Any

import pytest

from precache.bridge.backoff import Backoff, RepeatFilter
from precache.logs import RateLimitedLog


def test_backoff_doubles_to_its_cap_and_starts_over_on_reset() -> None:
    backoff = Backoff(4.0, jitter=0.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_backoff_is_jittered_within_its_bounds_and_never_above_its_cap() -> None:
    delays = [next(Backoff(4.0).next() for _ in range(1)) for _ in range(200)]
    assert all(0.375 <= d <= 0.625 for d in delays)
    assert len(set(delays)) > 1  # not in step
    backoff = Backoff(4.0)
    assert all(backoff.next() <= 4.0 for _ in range(20))


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def test_a_repeated_failure_is_one_line_per_interval_with_a_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr("precache.logs.time.monotonic", lambda: now[0])
    log = _Log()
    limited = RateLimitedLog(log, interval_s=10)
    for _ in range(1000):
        limited.warning("kafka not ready", error="x")
    limited.warning("other")
    now[0] += 11
    limited.warning("kafka not ready", error="y")
    assert log.lines == [
        ("kafka not ready", {"error": "x"}),
        ("other", {}),
        ("kafka not ready", {"error": "y", "repeated": 999}),
    ]


def test_library_warnings_are_let_through_once_per_template(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    monkeypatch.setattr("precache.logs.time.monotonic", lambda: now[0])
    repeat = RepeatFilter(("aiokafka",), interval_s=10)

    def record(name: str, msg: str, level: int = logging.WARNING) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, None, None)

    passed = [repeat.filter(record("aiokafka.conn", "Unable connect to %s")) for _ in range(50)]
    assert passed.count(True) == 1
    assert repeat.filter(record("aiokafka.conn", "Unable connect to %s", logging.INFO))
    assert repeat.filter(record("bridge.service", "Unable connect to %s"))
    now[0] = 11
    later = record("aiokafka.conn", "Unable connect to %s")
    assert repeat.filter(later)
    assert "(49 more like this in the last 10 s)" in str(later.msg)
