"""The worker's one settings object, built at the entry point and passed down."""

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from precache.config import ConnectTimeout, KafkaSettings, TopicCreation
from precache.pipeline.inventory import Expiry, Policy

KAFKA_DEFAULT_MAX_MESSAGE = 1_048_588  # a topic's max.message.bytes unless configured
RECORD_OVERHEAD = 16 * 1024  # key, headers and batch framing around a value
DLQ_HEADROOM = 64 * 1024  # a dead letter is the raw record plus our headers (error <= 1000 chars)


class RegionExpiry(BaseModel):
    """One region's nova.conf ``[image_cache]`` values, where they differ from the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_age_s: float = Field(ge=0, description="remove_unused_original_minimum_age_seconds")
    manager_interval_s: float = Field(ge=-1, description="manager_interval; -1: never removed")


class WorkerSettings(KafkaSettings, TopicCreation, ConnectTimeout):
    """``PRECACHE_*`` settings of ``precache worker``; field names are the env var names."""

    app_id: str = Field("precache-pipeline", description="faust app id = consumer group")
    web_host: str = Field("127.0.0.1", description="host other workers reach this one at")
    web_bind: str = Field("127.0.0.1", description="address the HTTP view listens on")
    web_port: int = Field(6066, ge=1, le=65535, description="HTTP view port, one per worker")
    data_dir: Path = Field(Path("/tmp/precache-worker"), description="faust data dir, per worker")
    store: Literal["memory", "rocksdb"] = Field("memory", description="table store")
    ticks_topic: str = Field("precache.pipeline.ticks", description="internal timer topic")
    grace_period_s: float = Field(30.0, gt=0, description="wait after .end for missing hosts")
    stall_after_s: float = Field(300.0, gt=0, description="no progress for this long = stalled")
    max_clock_skew_s: float = Field(
        300.0,
        gt=0,
        description="a notification time further ahead of the worker's clock, or behind its "
        "operation's latest time, is replaced (R8 plausibility)",
    )
    tick_interval_s: float = Field(1.0, gt=0, description="how often grace/stall are checked")
    status_coalesce: bool = Field(
        False, description="send running operations' progress snapshots once per tick"
    )
    failed_hosts_cap: int = Field(1000, ge=1, description="max hosts listed in failed_hosts")
    retention_s: float = Field(
        86_400.0, gt=0, description="a completed operation's state is deleted this long after"
    )
    standby_replicas: int = Field(0, ge=0, description="faust table_standby_replicas")
    commit_interval_s: float = Field(2.0, gt=0, description="offset commit interval")
    session_timeout_s: float = Field(
        30.0, gt=0, description="a dead worker's partitions move after"
    )
    batch_max: int = Field(
        10_000,
        ge=1,
        description="most notifications applied as one batch (one state write per op); a "
        "batch is what arrived while the previous one was applied, never waited for: the cap "
        "matters only when the worker is behind",
    )
    fetch_max_wait_ms: int = Field(
        50, ge=0, description="broker wait for an empty fetch (faust's own is 1500)"
    )
    log_level: str = Field("INFO", description="worker log level")
    max_event_bytes: int = Field(
        512 * 1024,
        ge=16 * 1024,
        le=768 * 1024,
        description="largest derived event; each host/image list in it gets a fifth, capped "
        "with a *_truncated flag",
    )
    confirm_timeout_s: float = Field(
        300.0,
        gt=0,
        description="a batch's sends and state writes not confirmed by Kafka by then: exit 70",
    )
    producer_batch_bytes: int = Field(
        256 * 1024,
        ge=16 * 1024,
        le=512 * 1024,
        description="largest record batch the worker sends to one partition (a larger record "
        "goes alone; faust's producer_max_batch_size, whose 16 kB default cost a fifth of the "
        "worker's CPU at 1,000 open operations); every topic it writes must take it "
        "(max.message.bytes)",
    )
    state_chunk_bytes: int = Field(
        256 * 1024,
        ge=16 * 1024,
        le=512 * 1024,
        description="largest state record (host markers, host list chunks) in the changelog",
    )

    inventory_topic: str = Field(
        "precache.inventory.input", description="internal: inventory inputs keyed region/image"
    )
    image_min_age_s: float = Field(
        86_400.0,
        ge=0,
        description="nova.conf [image_cache] remove_unused_original_minimum_age_seconds",
    )
    image_manager_interval_s: float = Field(
        2_400.0, ge=-1, description="nova.conf [image_cache] manager_interval; -1: never removed"
    )
    image_regions: dict[str, RegionExpiry] = Field(
        default_factory=dict,
        description='per-region overrides, JSON: {"RegionTwo": {"min_age_s": 3600, '
        '"manager_interval_s": -1}}',
    )

    @model_validator(mode="after")
    def _interval_is_nova_value(self) -> Self:
        intervals = [self.image_manager_interval_s]
        intervals += [r.manager_interval_s for r in self.image_regions.values()]
        if any(-1 < v < 0 for v in intervals):
            raise ValueError("an image manager interval is -1 (never) or at least 0 seconds")
        return self

    @property
    def image_policy(self) -> Policy:
        """The inventory's forecast settings (:class:`pipeline.inventory.Policy`)."""
        regions = {
            name: Expiry(r.min_age_s, r.manager_interval_s)
            for name, r in self.image_regions.items()
        }
        return Policy(Expiry(self.image_min_age_s, self.image_manager_interval_s), regions)

    @model_validator(mode="after")
    def _lists_fit_state_records(self) -> Self:
        if self.list_bytes > self.state_chunk_bytes:
            raise ValueError(
                f"state_chunk_bytes ({self.state_chunk_bytes}) must be at least "
                f"max_event_bytes / 5 ({self.list_bytes}): capped host lists are kept in state"
            )
        return self

    @property
    def list_bytes(self) -> int:
        """JSON bytes of one capped list (failed, missing hosts, images) in state and events."""
        return self.max_event_bytes // 5

    @property
    def producer_max_request_size(self) -> int:
        """faust's producer limit: a dead letter carries a raw record of up to
        ``max_record_bytes``; everything else we write is far smaller (budgets above)."""
        return self.max_record_bytes + DLQ_HEADROOM

    def required_max_message_bytes(self) -> dict[str, int]:
        """Each topic's smallest acceptable ``max.message.bytes``: for the start-up check.

        Changelog records (faust's ``<app_id>-operations-changelog``) stay below Kafka's default:
        a summary holds the host names of one batch in ``last_hosts``, at most
        ``state_chunk_bytes`` of them (``engine.Batch.full``), and three lists of at most
        ``list_bytes``; the other records are at most
        ``state_chunk_bytes``.
        A topic the worker writes also takes one of its record batches (``producer_batch_bytes``
        of records: Kafka checks ``max.message.bytes`` per batch)."""
        batch = self.producer_batch_bytes + RECORD_OVERHEAD
        event = max(self.max_event_bytes + RECORD_OVERHEAD, batch)
        return {
            self.raw_topic: self.max_record_bytes,
            # a membership forwarded to the inventory: at most the host list of a raw record
            self.inventory_topic: max(self.max_record_bytes, batch),
            self.pipeline_dlq_topic: max(self.max_record_bytes + DLQ_HEADROOM, batch),
            self.status_topic: event,
            self.completed_topic: event,
            self.host_failed_topic: event,
            self.stalled_topic: event,
            self.image_cache_topic: batch,
            self.ticks_topic: batch,
        }
