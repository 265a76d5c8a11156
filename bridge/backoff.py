"""Exponential backoff for every retry path of the bridge, and the filter that rate-limits
the libraries' own logs.

A retry loop without backoff turned a 37 s Kafka outage into ~430,000 log lines: every path
that retries waits ``Backoff.next()`` (0.5 s doubling to a cap); our own logs of repeated
failures go through :class:`precache.logs.RateLimitedLog`, the libraries' through
:class:`RepeatFilter`.
"""

import logging
import time

_FIRST_S = 0.5


class Backoff:
    """0.5 s, 1 s, 2 s ... up to ``cap_s``; ``reset`` once the thing retried worked."""

    __slots__ = ("_cap", "_next")

    def __init__(self, cap_s: float) -> None:
        self._cap = cap_s
        self._next = min(_FIRST_S, cap_s)

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        return delay

    def reset(self) -> None:
        self._next = min(_FIRST_S, self._cap)


class RepeatFilter(logging.Filter):
    """For library loggers (aiokafka, kombu, amqp): one record per message template per
    ``interval_s``; the next one let through carries ``(N more like this)``.

    aiokafka logs every failed produce request and connection attempt, several per second per
    broker while Kafka is away; the bridge's own retry logs are rate-limited the same way.
    """

    def __init__(self, prefixes: tuple[str, ...], interval_s: float = 10.0) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._interval = interval_s
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self._prefixes):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self._interval:g} s)"
        return True


def limit_library_logs(interval_s: float = 10.0) -> None:
    """Attach ``RepeatFilter`` to the root handlers (set up by ``precache.logs.configure``)."""
    repeat = RepeatFilter(("aiokafka", "kombu", "amqp"), interval_s)
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeat)
