"""Where the simulator publishes."""

from pydantic import Field

from precache.amqp_connection import AmqpConnection
from precache.config import ConnectTimeout


class SimulateSettings(ConnectTimeout, AmqpConnection):
    """Settings of ``precache simulate``; env vars ``PRECACHE_*`` as for the bridge."""

    control_exchange: str = "nova"
    notification_topic: str = "versioned_notifications"
    conductor_host: str = Field("conductor-sim", description="host part of publisher_id")
    publish_retries: int = Field(
        2,
        ge=0,
        description="oslo's Notifier retry: reconnects before a notification is given up "
        "(oslo's default retries for ever)",
    )
