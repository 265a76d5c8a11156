"""What the agents and the web views share: the app's topics, tables and counters.

Apart from :mod:`pipeline.app`, which builds it, so that the agents and views depend on this
and never on the module that wires them together (no import cycle).
"""

import asyncio
from dataclasses import dataclass, field

from faust.types import AppT, TopicT

from precache.pipeline.gaps import GapGuard
from precache.pipeline.inventory_agent import Inventory
from precache.pipeline.kafka_transport import SkipState
from precache.pipeline.metrics import WorkerMetrics
from precache.pipeline.operation import Limits
from precache.pipeline.ownership import Ownership
from precache.pipeline.rollout_agent import Rollouts
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.stats import Stats
from precache.pipeline.store import TableStore


@dataclass
class Pipeline:
    """The worker's parts, made once by ``pipeline.app.build``."""

    settings: WorkerSettings
    app: AppT
    inputs: TopicT  # raw and ticks: the agent's subscription
    ticks: TopicT
    outputs: dict[str, TopicT]  # status, completed, host_failed, stalled
    dlq: TopicT
    store: TableStore
    limits: Limits
    gaps: GapGuard
    skips: SkipState  # what the consumer dropped unseen (pipeline.kafka_transport)
    ownership: Ownership  # are a batch's partitions still ours (pipeline.ownership)
    stats: Stats = field(default_factory=Stats)
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    dirty: dict[int, set[str]] = field(default_factory=dict)  # coalesced status snapshots
    settling: "asyncio.Future[None] | None" = None  # the last batch's state confirmation
    inventory: Inventory | None = None  # the image cache inventory (pipeline.inventory_agent)
    rollouts: Rollouts | None = None  # what rollout/keep-warm did (pipeline.rollout_agent)
