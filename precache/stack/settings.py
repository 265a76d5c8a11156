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
    secure: bool = Field(
        default=False, description="the secure stack: TLS RabbitMQ, SASL_SSL Kafka (up --secure)"
    )
    amqps_port: int = Field(default=5671, ge=1, le=65535, description="secure RabbitMQ (TLS)")
    kafka_sasl_port: int = Field(default=9094, ge=1, le=65535, description="secure Kafka")
    kafka_sasl_controller_port: int = Field(default=9095, ge=1, le=65535)
    kafka_version: str = "4.0.2"
    kafka_heap: str = "512m"
    start_timeout_s: float = Field(default=120.0, gt=0)

    def secured(self, secure: bool = True) -> "StackSettings":
        """The same settings for the secure stack (``--secure``) or the plain one."""
        return self if secure == self.secure else self.model_copy(update={"secure": secure})

    @property
    def amqp_listen_port(self) -> int:
        """RabbitMQ's one listener: TLS on ``amqps_port`` in the secure stack."""
        return self.amqps_port if self.secure else self.amqp_port

    @property
    def kafka_listen_port(self) -> int:
        """Kafka's one client listener: SASL_SSL on ``kafka_sasl_port`` in the secure stack."""
        return self.kafka_sasl_port if self.secure else self.kafka_port

    @property
    def kafka_listen_controller_port(self) -> int:
        return self.kafka_sasl_controller_port if self.secure else self.kafka_controller_port

    @property
    def amqp_url(self) -> str:
        """The URL clients of the plain stack use; carries the password, so never log it.

        The secure stack's URL (no password in it) and TLS files: :meth:`amqp_connection`.
        """
        password = self.amqp_password.get_secret_value()
        return f"amqp://{self.amqp_user}:{password}@{self.host}:{self.amqp_port}//"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_listen_port}"

    @property
    def rabbitmq_dir(self) -> Path:
        return self.state_dir / f"rabbitmq-{self.amqp_listen_port}"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / f"kafka-{self.kafka_listen_port}"

    @property
    def pki_dir(self) -> Path:
        """CA, certificates and passwords of the secure stack (``pki.ensure_pki``)."""
        return self.state_dir / f"pki-{self.amqps_port}-{self.kafka_sasl_port}"

    @property
    def kafka_libs_dir(self) -> Path:
        return self.cache_dir / f"kafka-{self.kafka_version}" / "libs"
