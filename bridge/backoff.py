"""Exponential backoff and rate-limited logs for every retry path of the bridge.

A retry loop without backoff turned a 37 s Kafka outage into ~430,000 log lines: every path
that retries waits ``Backoff.next()`` (0.5 s doubling to a cap, jittered), and logs of repeated
failures go through ``RateLimitedLog`` (one line per interval, with the count of lines held back).
"""

import random
import time
from typing import Any

from precache.logs import RepeatFilter as RepeatFilter  # re-exported: the bridge's callers
from precache.logs import limit_library_logs as limit_library_logs

_FIRST_S = 0.5


class Backoff:
    """0.5 s, 1 s, 2 s ... up to ``cap_s``, each jittered by up to +-``jitter`` (so that
    bridges do not retry in step); ``reset`` once the thing retried worked."""

    __slots__ = ("_cap", "_jitter", "_next")

    def __init__(self, cap_s: float, jitter: float = 0.25) -> None:
        self._cap = cap_s
        self._jitter = jitter
        self._next = min(_FIRST_S, cap_s)

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        if self._jitter:
            delay *= random.uniform(1 - self._jitter, 1 + self._jitter)
        return min(delay, self._cap)

    def reset(self) -> None:
        self._next = min(_FIRST_S, self._cap)


class RateLimitedLog:
    """At most one line per ``interval_s`` per event; the line says how many were held back."""

    def __init__(self, logger: Any, interval_s: float = 10.0) -> None:
        self._log = logger
        self._interval = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, event: str, **fields: Any) -> None:
        now = time.monotonic()
        last = self._last.get(event)
        if last is not None and now - last < self._interval:
            self._held[event] = self._held.get(event, 0) + 1
            return
        self._last[event] = now
        held = self._held.pop(event, 0)
        if held:
            fields["repeated"] = held
        self._log.warning(event, **fields)
