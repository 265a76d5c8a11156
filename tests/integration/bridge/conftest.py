"""Per-test bridge settings: own queue, exchange and topics, deleted queue afterwards."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bridge.settings import BridgeSettings
from tests.integration.bridge.helpers import delete_queue

SettingsFactory = Callable[..., BridgeSettings]


@pytest.fixture
def bridge_settings(
    amqp_url: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> Iterator[SettingsFactory]:
    """Make BridgeSettings on the test stack with unique names; overrides as keywords."""
    made: list[BridgeSettings] = []

    def make(**overrides: Any) -> BridgeSettings:
        values: dict[str, Any] = {
            "amqp_url": amqp_url,
            "kafka_bootstrap": kafka_bootstrap,
            "exchange": unique_name("nova"),
            "queue": unique_name("precache-bridge"),
            "raw_topic": unique_name("nova.notifications"),
            "dlq_topic": unique_name("nova.notifications.dlq"),
            "metrics_port": 0,
            "shutdown_timeout_s": 5.0,
            "retry_backoff_max_s": 2.0,
            **overrides,
        }
        settings = BridgeSettings(**values)
        made.append(settings)
        return settings

    yield make
    for settings in made:
        delete_queue(amqp_url, settings.queue_name)
        if settings.legacy:
            delete_queue(amqp_url, settings.legacy_queue_name)
        if settings.exchange == "nova":  # oslo's notifier declared and filled Nova's own queue
            delete_queue(amqp_url, "versioned_notifications.info")
