"""Structured logs: one JSON object per line (or readable lines on a terminal).

Components log through ``structlog.get_logger(__name__)`` with key/value fields; nothing logs a
URL with its password (use :func:`mask_url`).
"""

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    """Route structlog and the stdlib's loggers (kombu, aiokafka, faust) through one renderer."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def mask_url(url: str) -> str:
    """``amqp://user:secret@host/`` -> ``amqp://user:***@host/``: safe to log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


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


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Silence ``name`` (e.g. aiokafka, which logs every failed connection attempt) while a
    caller that reports the outcome in one line of its own retries."""
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


class RateLimitedLog:
    """At most one warning per key and ``interval_s``; the next one let through says how many
    were held back (``repeated``). A retry loop without it turned a 37 s Kafka outage into
    ~430,000 lines; a stream of bad records would do the same to the worker's log.

    The key is the event unless given: the worker keys dead letters by reason, say.
    """

    def __init__(self, logger: Any, interval_s: float = 10.0) -> None:
        self._log = logger
        self._interval = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, event: str, *, key: str | None = None, **fields: Any) -> None:
        key = event if key is None else key
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._held[key] = self._held.get(key, 0) + 1
            return
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            fields["repeated"] = held
        self._log.warning(event, **fields)
