"""Where the local brokers listen and keep their files."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _state_home() -> Path:
    return Path.home() / ".local" / "state" / "precache"


def _cache_home() -> Path:
    return Path.home() / ".cache" / "precache"


class StackSettings(BaseSettings):
    """Settings of ``precache stack``; env vars ``PRECACHE_STACK_*``.

    Several stacks can run side by side on one machine when each has its own ``state_dir`` and
    ports (the test suites of parallel checkouts do this).
    """

    model_config = SettingsConfigDict(env_prefix="PRECACHE_STACK_", frozen=True, extra="ignore")

    state_dir: Path = Field(default_factory=_state_home, description="data, logs and pid files")
    cache_dir: Path = Field(default_factory=_cache_home, description="downloaded Kafka jars")
    host: str = "127.0.0.1"
    amqp_port: int = Field(default=5672, ge=1, le=65535)
    amqp_user: str = "guest"
    amqp_password: SecretStr = SecretStr("guest")
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    kafka_version: str = "4.0.2"
    kafka_heap: str = "512m"
    start_timeout_s: float = Field(default=120.0, gt=0)

    @property
    def amqp_url(self) -> str:
        """The URL clients use; carries the password, so never log it."""
        password = self.amqp_password.get_secret_value()
        return f"amqp://{self.amqp_user}:{password}@{self.host}:{self.amqp_port}//"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def rabbitmq_dir(self) -> Path:
        return self.state_dir / f"rabbitmq-{self.amqp_port}"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / f"kafka-{self.kafka_port}"

    @property
    def kafka_libs_dir(self) -> Path:
        return self.cache_dir / f"kafka-{self.kafka_version}" / "libs"
