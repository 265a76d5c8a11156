"""Settings every component shares: where Kafka is and what its topics are called.

Each component (bridge, worker, watcher, simulator) has one settings object that extends
:class:`KafkaSettings`, built once at its entry point and passed down. All of them read
``PRECACHE_*`` environment variables, so one env file configures a whole deployment.
"""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PRECACHE_"


class PrecacheSettings(BaseSettings):
    """Base of every component's settings: env prefix, frozen, unknown env vars ignored."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", env_file=None
    )


class ConnectTimeout(PrecacheSettings):
    """How long a command waits for its broker at start before it gives up with exit status 3.

    Shared by the worker, the watcher and the simulator, so one env var bounds them all.
    """

    connect_timeout_s: float = Field(
        10.0, gt=0, description="give up (exit 3) when the broker does not answer within this time"
    )


class TopicNames(PrecacheSettings):
    """Kafka topic names; the defaults are the contract documented in docs/events.md."""

    raw_topic: str = Field("nova.notifications", description="bridge output, pipeline input")
    raw_partitions: int = Field(4, ge=1, description="partitions of the raw topic and tables")
    dlq_topic: str = Field("nova.notifications.dlq", description="bridge dead letters")
    pipeline_dlq_topic: str = Field("precache.dlq", description="pipeline dead letters")
    status_topic: str = "precache.operation.status"
    completed_topic: str = "precache.operation.completed"
    host_failed_topic: str = "precache.host.failed"
    stalled_topic: str = "precache.operation.stalled"


class KafkaSettings(TopicNames):
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="host:port[,host:port...]")
    max_record_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024 * 1024,
        description="largest raw record (topic max.message.bytes, producer max_request_size): "
        "a 100k-host start notification is about 2 MB, over Kafka's 1 MB default",
    )
