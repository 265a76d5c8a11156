"""What the agents and the web views share: the app's topics, tables and counters.

Apart from :mod:`pipeline.app`, which builds it, so that the agents and views depend on this
and never on the module that wires them together (no import cycle).
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from precache.pipeline.gaps import GapGuard
from precache.pipeline.inventory_agent import Inventory
from precache.pipeline.metrics import WorkerMetrics
from precache.pipeline.operation import Limits
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.store import TableStore


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


@dataclass
class Pipeline:
    settings: WorkerSettings
    app: Any
    inputs: Any
    ticks: Any
    outputs: dict[str, Any]
    dlq: Any
    store: TableStore
    limits: Limits
    gaps: GapGuard
    stats: Stats = field(default_factory=Stats)
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    dirty: dict[int, set[str]] = field(default_factory=dict)  # coalesced status snapshots
    settling: Any = None  # the last batch's state confirmation (pipeline.agents)
    inventory: Inventory | None = None  # the image cache inventory (pipeline.inventory_agent)
