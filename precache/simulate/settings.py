"""Where the simulator publishes."""

from pydantic import Field, SecretStr

from precache.config import ConnectTimeout


class SimulateSettings(ConnectTimeout):
    """Settings of ``precache simulate``; env vars ``PRECACHE_*`` as for the bridge."""

    amqp_url: SecretStr = Field(
        SecretStr("amqp://guest:guest@127.0.0.1:5672//"),
        description="RabbitMQ of the region Nova runs in (kombu URL)",
    )
    control_exchange: str = "nova"
    notification_topic: str = "versioned_notifications"
    conductor_host: str = Field("conductor-sim", description="host part of publisher_id")
    publish_retries: int = Field(
        2,
        ge=0,
        description="oslo's Notifier retry: reconnects before a notification is given up "
        "(oslo's default retries for ever)",
    )
