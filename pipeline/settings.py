"""The worker's one settings object, built at the entry point and passed down."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from precache.config import ConnectTimeout, KafkaSettings


class WorkerSettings(KafkaSettings, ConnectTimeout):
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
    tick_interval_s: float = Field(1.0, gt=0, description="how often grace/stall are checked")
    status_coalesce: bool = Field(
        False, description="send running operations' progress snapshots once per tick"
    )
    failed_hosts_cap: int = Field(1000, ge=1, description="max hosts listed in failed_hosts")
    retention_s: float = Field(
        86_400.0, gt=0, description="a completed operation's state is deleted this long after"
    )
    standby_replicas: int = Field(0, ge=0, description="faust table_standby_replicas")
    replication_factor: int = Field(1, ge=1, description="replication of created topics")
    commit_interval_s: float = Field(2.0, gt=0, description="offset commit interval")
    session_timeout_s: float = Field(
        30.0, gt=0, description="a dead worker's partitions move after"
    )
    batch_max: int = Field(
        1000, ge=1, description="notifications applied as one batch (one state write per op)"
    )
    batch_window_s: float = Field(
        0.1, gt=0, description="a batch closes after this long even if not full"
    )
    fetch_max_wait_ms: int = Field(
        50, ge=0, description="broker wait for an empty fetch (faust's own is 1500)"
    )
    log_level: str = Field("INFO", description="worker log level")
