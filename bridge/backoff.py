"""Exponential backoff for every retry path of the bridge, and the filter that rate-limits
the libraries' own logs.

A retry loop without backoff turned a 37 s Kafka outage into ~430,000 log lines: every path
that retries waits ``Backoff.next()`` (0.5 s doubling to a cap, jittered); our own logs of
repeated failures go through :class:`precache.logs.RateLimitedLog`, the libraries' through
:class:`precache.logs.RepeatFilter`.
"""

import random

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
