"""Settings of ``precache rollout`` and ``keep-warm``: where the worker's HTTP view is (the
inventory and the operations) and how often to look. Nova's side is openstacksdk's
configuration (clouds.yaml), as for ``precache cache``; Kafka is where the events go."""

from pydantic import Field

from precache.config import KafkaSettings
from precache.images.settings import ImagesSettings


class RolloutSettings(ImagesSettings, KafkaSettings):
    """Env vars ``PRECACHE_*``; Kafka's (``PRECACHE_KAFKA_*``, ``PRECACHE_ROLLOUT_TOPIC``) for the
    ``precache.rollout.*`` events."""

    rollout_poll_s: float = Field(
        2.0, gt=0, description="seconds between two reads of the inventory and the operations"
    )
    rollout_settle_s: float = Field(
        5.0,
        ge=0,
        description="an operation completed this recently still counts as in flight: the "
        "inventory may not show its touches yet",
    )
    rollout_pending_s: float = Field(
        120.0,
        gt=0,
        description="a request Nova accepted counts as in flight until the worker sees its "
        "operation, or this long",
    )
    rollout_series_max_age_s: float = Field(
        21600.0,
        gt=0,
        description="a target's open retry series whose newest request is older than this "
        "(or [pace] backoff_max, if longer) is not continued after a restart: the rerun starts "
        "its retries from 0",
    )
