"""Everything the bridge can be told, from CLI options, ``PRECACHE_*`` env vars or a TOML file.

Precedence: command-line options > environment > config file > defaults.
"""

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from precache.amqp_connection import AmqpConnection
from precache.config import ENV_PREFIX, KafkaClient, RawTopics, TopicCreation, describe
from precache.errors import ConfigError
from precache.region import region_problem

_HEADER_ROOM = 64 * 1024  # headers and record overhead

DEFAULT_SECRET_FIELDS = ("_context_auth_token", "_context_service_catalog")


class QueueType(StrEnum):
    QUORUM = "quorum"
    CLASSIC = "classic"


class BridgeSettings(RawTopics, TopicCreation, KafkaClient, AmqpConnection):
    """Settings of ``precache bridge``; one object, built at the entry point."""

    region: str = Field("local", min_length=1, description="region name put on every record")
    bridge_id: str = Field("", description="'source' header; default: bridge-<region>")
    exchange: str = Field("nova", description="oslo.messaging control exchange (topic type)")
    exchange_durable: bool = Field(
        False, description="declare the exchange durable (nova.conf amqp_durable_queues)"
    )
    binding_keys: list[str] = Field(
        ["versioned_notifications.*"], description="routing keys our own queue is bound with"
    )
    queue: str = Field("precache-bridge", min_length=1, description="our own durable queue")
    queue_type: QueueType = Field(QueueType.QUORUM, description="quorum or classic")
    use_nova_queue: bool = Field(
        False,
        description="consume Nova's versioned_notifications.info queue instead of our own "
        "(takes messages away from any other reader of that queue)",
    )
    single_active_consumer: bool = Field(
        False,
        description="declare our queue with x-single-active-consumer: several bridges on one "
        "queue, one active and the others hot standby (a queue declared without it must be "
        "migrated: precache bridge-queue migrate)",
    )
    amqp_heartbeat_s: int = Field(
        30,
        ge=1,
        le=600,
        description="AMQP heartbeat period: RabbitMQ drops a frozen bridge's connection (and a "
        "standby takes over) two to three periods after it stopped answering",
    )
    legacy: bool = Field(False, description="also bridge the unversioned notifications.* stream")
    legacy_topic: str = Field("nova.notifications.legacy", description="Kafka topic for legacy")
    prefetch: int = Field(
        2000, ge=1, le=65535, description="unacked AMQP messages in flight (the backpressure)"
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="bodies above this go to the DLQ as too_large (below max_record_bytes)",
    )
    max_in_flight_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="body bytes delivered and not yet acked above which the bridge stops "
        "fetching (basic.cancel) until acks bring them to half; at least max_body_bytes",
    )
    secret_fields: list[str] = Field(
        list(DEFAULT_SECRET_FIELDS), description="context fields removed before Kafka"
    )
    linger_ms: int = Field(
        0, ge=0, description="Kafka producer delay for a record sent alone (batches never wait)"
    )
    max_batch_bytes: int = Field(262_144, ge=16_384, description="Kafka producer batch size")
    retry_backoff_max_s: float = Field(10.0, gt=0, description="cap of reconnect backoff")
    shutdown_timeout_s: float = Field(8.0, gt=0, description="SIGTERM: time to flush and ack")
    metrics_port: int = Field(
        0, ge=0, le=65535, description="HTTP port of /metrics, /healthz and /readyz; 0: off"
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR")

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", env_file=None, toml_file=None
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    @field_validator("region")
    @classmethod
    def _region_the_worker_takes(cls, value: str) -> str:
        """The worker dead-letters every record of a region it refuses (``bad_region``)."""
        problem = region_problem(value)
        if problem is not None:
            raise ValueError(f"region {value!r} {problem}")
        return value

    @model_validator(mode="after")
    def _body_fits_a_record(self) -> "BridgeSettings":
        if self.max_body_bytes > self.max_record_bytes - _HEADER_ROOM:
            raise ValueError(
                f"max_body_bytes ({self.max_body_bytes}) must stay {_HEADER_ROOM} bytes below "
                f"max_record_bytes ({self.max_record_bytes}), or Kafka refuses what we forward"
            )
        return self

    @model_validator(mode="after")
    def _one_body_fits_in_flight(self) -> "BridgeSettings":
        if self.max_in_flight_bytes < self.max_body_bytes:
            raise ValueError(
                f"max_in_flight_bytes ({self.max_in_flight_bytes}) must be at least "
                f"max_body_bytes ({self.max_body_bytes}), so that one maximal message fits"
            )
        return self

    @model_validator(mode="after")
    def _standby_needs_our_queue(self) -> "BridgeSettings":
        if self.single_active_consumer and self.use_nova_queue:
            raise ValueError(
                "single_active_consumer needs our own queue: Nova's queue is declared by "
                "oslo.messaging, without x-single-active-consumer (drop use_nova_queue)"
            )
        return self

    @property
    def source(self) -> str:
        return self.bridge_id or f"bridge-{self.region}"

    @property
    def queue_name(self) -> str:
        return "versioned_notifications.info" if self.use_nova_queue else self.queue

    @property
    def legacy_queue_name(self) -> str:
        return "notifications.info" if self.use_nova_queue else f"{self.queue}-legacy"


def load_settings(config_file: Path | None = None, **overrides: Any) -> BridgeSettings:
    """Build the settings once; a bad value becomes a ConfigError naming the setting."""
    cls: type[BridgeSettings] = BridgeSettings
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} does not exist")
        config = SettingsConfigDict(**{**BridgeSettings.model_config, "toml_file": config_file})
        cls = type("BridgeSettingsFromFile", (BridgeSettings,), {"model_config": config})
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from exc
    except ValueError as exc:  # a TOML syntax error
        raise ConfigError(f"config file {config_file}: {exc}") from exc
