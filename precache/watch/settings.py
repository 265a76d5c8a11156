"""Where the watcher reads, and how long it waits for Kafka and for late host events."""

from typing import TypeVar

from pydantic import Field, ValidationError

from precache.config import ConnectTimeout, KafkaSettings
from precache.errors import ConfigError


class WatchSettings(KafkaSettings, ConnectTimeout):
    """Settings of ``precache watch``; env vars ``PRECACHE_*`` (topics, ``KAFKA_BOOTSTRAP``).

    What to watch (aggregate, region, timeout) are command options, not settings: they change
    with every call, while these describe the deployment.
    """

    failures_wait_s: float = Field(
        10.0,
        ge=0,
        description="after completion, how long to wait for host.failed events that complete "
        "a truncated failed_hosts list",
    )
    failures_lookback_s: float = Field(
        300.0,
        ge=0,
        description="host.failed is re-read from the operation's start minus this margin "
        "(clock skew between Nova and the pipeline)",
    )


S = TypeVar("S", bound=WatchSettings)


def load_watch_settings(kafka: str | None, cls: type[S]) -> S:
    """Env vars, with ``--kafka`` over ``PRECACHE_KAFKA_BOOTSTRAP``; a bad value is one line."""
    try:
        return cls(kafka_bootstrap=kafka) if kafka else cls()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        name = "--kafka / PRECACHE_KAFKA_BOOTSTRAP" if field == "kafka_bootstrap" else field
        if not field:  # a check across settings (TLS and SASL): its message names them
            raise ConfigError(f"settings: {err['msg'].removeprefix('Value error, ')}") from exc
        raise ConfigError(f"{name}: {err['msg']}") from exc
