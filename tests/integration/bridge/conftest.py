"""Per-test bridge settings: own queue, exchange and topics, deleted queue afterwards."""

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from precache.bridge.settings import BridgeSettings
from precache.stack import StackSettings, start_broker, stop_broker
from tests.support.amqp import delete_queue
from tests.support.bridge import SettingsFactory


@pytest.fixture
def bridge_settings(
    amqp_url: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> Iterator[SettingsFactory]:
    """Make BridgeSettings on the test stack with unique names; overrides as keywords."""
    made: list[BridgeSettings] = []

    def make(**overrides: Any) -> BridgeSettings:
        values: dict[str, Any] = {
            **_on_the_stack(amqp_url, kafka_bootstrap, unique_name),
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
        amqp_url = settings.amqp_url.get_secret_value()
        delete_queue(amqp_url, settings.queue_name)
        if settings.legacy:
            delete_queue(amqp_url, settings.legacy_queue_name)
        if settings.exchange == "nova":  # oslo's notifier declared and filled Nova's own queue
            delete_queue(amqp_url, "versioned_notifications.info")


@pytest.fixture(scope="module")
def second_rabbitmq(stack: StackSettings) -> Iterator[str]:
    """Another region's RabbitMQ: a second node of the stack on the next free ports."""
    other = stack.model_copy(update={"amqp_port": _free_amqp_port()})
    status = start_broker(other, "rabbitmq")
    try:
        yield other.amqp_url
    finally:
        if status.started_now:
            stop_broker(other, "rabbitmq")


def _free_amqp_port() -> int:
    """A port that is free, and so is the Erlang distribution port (it + 20000) of the node."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + 20000 < 65536 and _free(port) and _free(port + 20000):
            return port
    raise RuntimeError("no free port pair for a second RabbitMQ")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@pytest.fixture
def settings(
    amqp_url: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> Callable[..., BridgeSettings]:
    """BridgeSettings on the test stack with unique names and nothing else set (for bridges
    started as processes, whose other settings are the defaults); overrides as keywords."""

    def make(**overrides: Any) -> BridgeSettings:
        return BridgeSettings(
            **{**_on_the_stack(amqp_url, kafka_bootstrap, unique_name), **overrides}
        )

    return make


def _on_the_stack(
    amqp_url: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> dict[str, Any]:
    """What every test bridge is given: the test stack, and an exchange, queue and topics of
    its own."""
    return {
        "amqp_url": amqp_url,
        "kafka_bootstrap": kafka_bootstrap,
        "exchange": unique_name("nova"),
        "queue": unique_name("precache-bridge"),
        "raw_topic": unique_name("nova.notifications"),
        "dlq_topic": unique_name("nova.notifications.dlq"),
    }
