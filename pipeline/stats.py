"""The worker's counters, exposed on ``GET /stats`` (pipeline.web)."""

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Stats:
    """Counters exposed on ``GET /stats``."""

    applied: int = 0
    ignored: int = 0
    malformed: int = 0  # every dead letter, by reason below
    late: int = 0  # inputs for completed or forgotten operations (R7)
    held: int = 0  # progress held before any host list (R5)
    quarantined: int = 0  # operations whose timer rules raised
    ticks: int = 0
    batches: int = 0  # batches applied, and the records they held (natural batching's sizes)
    batched: int = 0
    first_applied_at: float | None = None  # wall clock, for throughput measurements
    last_applied_at: float | None = None
    by_reason: dict[str, int] = field(default_factory=dict)
    # the last batches: how old their newest notification was when the agent took them
    # (Kafka record timestamp to batch start: fetch and hand-over), and how long applying,
    # sending and confirming their events took; milliseconds (``GET /stats``)
    batch_age_ms: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_BATCHES))
    batch_ms: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_BATCHES))

    def add(self, counts: dict[str, int], reasons: dict[str, int], now: float) -> None:
        """A batch's counts (``Outbox.counts``) and dead letters by reason, once it is in Kafka."""
        self.applied += counts.get("applied", 0)
        self.ignored += counts.get("ignored", 0)
        self.late += counts.get("late", 0)
        self.held += counts.get("held", 0)
        self.ticks += counts.get("ticks", 0)
        self.quarantined += counts.get("quarantined", 0)
        for reason, n in reasons.items():
            self.malformed += n
            self.by_reason[reason] = self.by_reason.get(reason, 0) + n
        if counts.get("applied") or counts.get("late"):
            self.last_applied_at = now
            if self.first_applied_at is None:
                self.first_applied_at = now

    def batch_done(self, began: float, newest: float, size: int) -> None:
        """A batch taken at ``began`` whose newest record was stamped ``newest`` is done."""
        self.batch_age_ms.append((began - newest) * 1000)
        self.batch_ms.append((time.time() - began) * 1000)
        self.batches += 1
        self.batched += size

    def batch_latency(self) -> dict[str, dict[str, float] | int]:
        """p50/p99/max of the recent batches' figures (``GET /stats``)."""
        return {
            "batches": len(self.batch_ms),
            "age_ms": quantiles(self.batch_age_ms),
            "apply_ms": quantiles(self.batch_ms),
        }


RECENT_BATCHES = 4096


def quantiles(values: "deque[float]") -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    last = len(ordered) - 1
    return {
        "p50": round(ordered[last // 2], 2),
        "p99": round(ordered[(last * 99) // 100], 2),
        "max": round(ordered[last], 2),
    }
