"""Kafka reconnects that back off: capped exponential delays with jitter, one log line per
interval, for every aiokafka client of the process (the bridge's producers and admin clients,
faust's consumer and producer in the worker).

aiokafka retries a broker that is away every ``retry_backoff_ms`` (100 ms) from each of its
loops, and every failed connect wakes its metadata task at once: a 40 s Kafka outage was
~200,000 connection attempts in the bridge and 273,506 error lines (43 MB) in the worker.
aiokafka has no reconnect backoff of its own, so :func:`install` wraps the one method every
connection goes through, ``AIOKafkaClient._get_conn`` (fenced by
tests/unit/test_kafka_backoff.py): while a broker is unreachable, callers wait for its next
attempt instead of dialling; attempts are 0.5 s apart, then twice as far each failure up to
the cap, each delay jittered (+-25 %) so that processes do not retry in step. The first
successful connection ends it. Instead of a line per attempt, one line per interval says
"Kafka unreachable since T, retrying every N s".
"""

import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka.client import AIOKafkaClient, ConnectionGroup

log = structlog.get_logger(__name__)

FIRST_S = 0.5
JITTER = 0.25
LOG_EVERY_S = 10.0


class ReconnectGate:
    """One process's view of one broker (a node id of the cluster): may a connect be tried
    now, and how long to wait otherwise."""

    def __init__(self, cap_s: float, clock: Any = time.monotonic, logger: Any = None) -> None:
        self._cap = cap_s
        self._clock = clock
        self._log = logger or log
        self.delay = 0.0  # the current interval between attempts (0: reachable)
        self.next_at = 0.0  # monotonic time of the next attempt
        self.down_since: float | None = None  # wall time of the first failure
        self.attempts = 0
        self._logged_at: float | None = None

    def wait_s(self) -> float:
        """How long a caller waits before trying (0: try now)."""
        return max(0.0, self.next_at - float(self._clock()))

    def failed(self, node: Any) -> None:
        now = self._clock()
        self.attempts += 1
        if now < self.next_at:
            return  # another caller's attempt of the same window failed first
        if self.down_since is None:
            self.down_since = time.time()
        base = FIRST_S if not self.delay else min(self._cap, self.delay * 2)
        self.delay = base
        self.next_at = now + min(self._cap, base * random.uniform(1 - JITTER, 1 + JITTER))
        if self._logged_at is None or now - self._logged_at >= max(LOG_EVERY_S, base):
            self._logged_at = now
            since = datetime.fromtimestamp(self.down_since, UTC).isoformat(timespec="seconds")
            self._log.warning(
                f"Kafka unreachable since {since}, retrying every {base:g} s",
                node=str(node),
                attempts=self.attempts,
            )

    def succeeded(self, node: Any) -> None:
        if self.down_since is not None:
            self._log.info(
                "Kafka reachable again",
                node=str(node),
                down_s=round(time.time() - self.down_since, 1),
                attempts=self.attempts,
            )
        self.delay, self.next_at, self.down_since, self.attempts = 0.0, 0.0, None, 0
        self._logged_at = None


_gates: dict[Any, ReconnectGate] = {}
_cap_s = [10.0]
_ORIGINAL = AIOKafkaClient._get_conn


async def _get_conn(self: AIOKafkaClient, node_id: Any, **kwargs: Any) -> Any:
    """``AIOKafkaClient._get_conn`` behind the node's gate (an open connection: at once)."""
    conn = self._conns.get((node_id, kwargs.get("group", ConnectionGroup.DEFAULT)))
    if conn is not None and conn.connected():
        return await _ORIGINAL(self, node_id, **kwargs)
    gate = _gates.get(node_id)
    if gate is None:
        gate = _gates[node_id] = ReconnectGate(_cap_s[0])
    while (delay := gate.wait_s()) > 0:  # noqa: ASYNC110 - a deadline that may move, not an event
        await asyncio.sleep(delay)
    conn = await _ORIGINAL(self, node_id, **kwargs)
    if conn is None:
        gate.failed(node_id)
    else:
        gate.succeeded(node_id)
    return conn


def install(cap_s: float = 10.0) -> None:
    """Back off every aiokafka client's reconnects in this process (idempotent)."""
    _cap_s[0] = cap_s
    for gate in _gates.values():
        gate._cap = cap_s
    AIOKafkaClient._get_conn = _get_conn


def gate(node_id: Any) -> ReconnectGate | None:
    """The gate of ``node_id`` (for tests and metrics)."""
    return _gates.get(node_id)
