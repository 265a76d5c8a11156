"""Settings every component shares: where Kafka is and what its topics are called.

Each component (bridge, worker, watcher, simulator) has one settings object that extends
:class:`KafkaSettings`, built once at its entry point and passed down. All of them read
``PRECACHE_*`` environment variables, so one env file configures a whole deployment.
"""

from typing import Any, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings

from precache.errors import ConfigError
from precache.kafka_connection import KafkaConnection
from precache.settings_base import ENV_PREFIX, PrecacheSettings

__all__ = [
    "ENV_PREFIX",
    "ConnectTimeout",
    "DerivedTopics",
    "KafkaClient",
    "KafkaSettings",
    "PrecacheSettings",
    "RawTopics",
    "TopicCreation",
]


class ConnectTimeout(PrecacheSettings):
    """How long a command waits for its broker at start before it gives up with exit status 3.

    Shared by the worker, the watcher and the simulator, so one env var bounds them all.
    """

    connect_timeout_s: float = Field(
        10.0, gt=0, description="give up (exit 3) when the broker does not answer within this time"
    )


class RawTopics(PrecacheSettings):
    """Topics the bridge writes and the worker reads (defaults: the contract, docs/events.md)."""

    raw_topic: str = Field("nova.notifications", description="bridge output, pipeline input")
    raw_partitions: int = Field(4, ge=1, description="partitions of the raw topic and tables")
    dlq_topic: str = Field("nova.notifications.dlq", description="bridge dead letters")


class DerivedTopics(PrecacheSettings):
    """The topics the worker writes and the operator tools read (docs/events.md)."""

    pipeline_dlq_topic: str = Field("precache.dlq", description="pipeline dead letters")
    status_topic: str = Field("precache.operation.status", description="progress snapshots")
    completed_topic: str = Field("precache.operation.completed", description="completions")
    host_failed_topic: str = Field("precache.host.failed", description="per-host failures")
    stalled_topic: str = Field("precache.operation.stalled", description="stalls")
    image_cache_topic: str = Field(
        "precache.image.cache", description="image cache inventory, compacted by region/host/image"
    )
    rollout_topic: str = Field(
        "precache.rollout", description="what precache rollout and keep-warm asked Nova for"
    )


class KafkaClient(KafkaConnection):
    """How to connect (bootstrap, TLS, SASL) and the largest raw record."""

    max_record_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024 * 1024,
        description="largest raw record (topic max.message.bytes, producer max_request_size): "
        "a 100k-host start notification is about 2 MB, over Kafka's 1 MB default",
    )


class TopicCreation(PrecacheSettings):
    """What a service that creates its topics gives them (the bridge, the worker)."""

    topic_replication: int = Field(
        1, ge=1, description="replication factor of the topics this service creates"
    )


class KafkaSettings(RawTopics, DerivedTopics, KafkaClient):
    """Every topic name and how to connect: what the worker and the operator tools need (the
    bridge takes only :class:`RawTopics`)."""


S = TypeVar("S", bound=BaseSettings)


def build_settings(cls: type[S], *, every_setting_an_option: bool = False, **overrides: Any) -> S:
    """The settings object of an entry point: options (``None`` = not given) over env vars;
    a bad value is a :class:`ConfigError` naming the setting, its option (where every setting
    is one) and its env var."""
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(describe(exc, every_setting_an_option=every_setting_an_option)) from exc


def describe(exc: ValidationError, *, every_setting_an_option: bool = True) -> str:
    """One line for the first invalid setting (or the message of a check across settings);
    names its ``--option`` too where every setting is one (the bridge, the worker)."""
    first = exc.errors()[0]
    if not first["loc"]:
        return f"settings: {first['msg'].removeprefix('Value error, ')}"
    name = ".".join(str(p) for p in first["loc"])
    top = str(first["loc"][0])  # a nested value (a JSON setting's) is still one option
    env = f"{ENV_PREFIX}{top}".upper()
    where = f"--{top.replace('_', '-')} / {env}" if every_setting_an_option else env
    return f"setting {name} ({where}): {first['msg']}"
