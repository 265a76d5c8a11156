"""What the agents and the web views share: the app's topics, tables and counters.

Apart from :mod:`pipeline.app`, which builds it, so that the agents and views depend on this
and never on the module that wires them together (no import cycle).
"""

from dataclasses import dataclass, field
from typing import Any

from precache.pipeline.gaps import GapGuard
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
    dirty: dict[int, set[str]] = field(default_factory=dict)  # coalesced status snapshots
    settling: Any = None  # the last batch's state confirmation (pipeline.agents)
