"""The simulator puts Nova's own bytes on a real RabbitMQ, through oslo.messaging's Notifier."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from pydantic import SecretStr

from precache.simulate import SimulateSettings, SimulationPlan
from precache.simulate.conductor import simulate_operation

pytestmark = pytest.mark.integration


@pytest.fixture
def exchange(unique_name: Callable[[str], str]) -> str:
    """Nova's control exchange, named per test so no other queue bound to `nova` fills up."""
    return unique_name("nova")


@pytest.fixture
def tap(
    amqp_url: str, exchange: str, unique_name: Callable[[str], str]
) -> Iterator[tuple[Connection, Queue]]:
    """A queue of our own bound to the exchange, as the bridge binds it."""
    with Connection(amqp_url) as conn:
        queue = Queue(
            unique_name("tap"),
            Exchange(exchange, type="topic", durable=False),
            routing_key="versioned_notifications.*",
            auto_delete=True,
        )
        queue(conn.default_channel).declare()
        yield conn, queue


def _drain(conn: Connection, queue: Queue, request_id: str) -> list[dict[str, Any]]:
    inner: list[dict[str, Any]] = []
    simple = conn.SimpleQueue(queue)
    while True:
        try:
            message = simple.get(timeout=1)
        except simple.Empty:
            return inner
        message.ack()
        envelope = json.loads(message.body)
        assert envelope["oslo.version"] == "2.0"
        decoded = json.loads(envelope["oslo.message"])
        if decoded["_context_request_id"] == request_id:
            inner.append(decoded)


def test_operation_reaches_rabbitmq_as_nova_sends_it(tap, amqp_url: str, exchange: str) -> None:
    conn, queue = tap
    settings = SimulateSettings(amqp_url=SecretStr(amqp_url), control_exchange=exchange)
    plan = SimulationPlan(
        hosts=20, failing=frozenset({2, 3}), no_report=frozenset({7}), concurrency=6, delay_s=0.005
    )
    result = simulate_operation(settings, plan)
    messages = _drain(conn, queue, plan.request_id)

    events = [m["event_type"] for m in messages]
    assert events[0] == "aggregate.cache_images.start"
    assert events[-1] == "aggregate.cache_images.end"
    progress = [m["payload"]["nova_object.data"] for m in messages[1:-1]]
    assert len(progress) == result.progress_sent == 19
    assert sorted(p["index"] for p in progress) == list(range(1, 20))
    assert {p["host"] for p in progress} == {f"guaranine{n}" for n in range(1, 21)} - {"guaranine7"}
    failed = {p["host"] for p in progress if p["images_failed"]}
    assert failed == {"guaranine2", "guaranine3"} == set(result.failed_hosts)
    assert all(p["total"] == 20 for p in progress)
    start = messages[0]["payload"]["nova_object.data"]
    assert start["hosts"] == plan.host_names()
    assert messages[0]["publisher_id"].startswith("nova-api:")
    assert messages[1]["publisher_id"].startswith("nova-conductor:")
    assert messages[0]["_context_auth_token"] is None


def test_old_oslo_token_leak_is_reproduced(tap, amqp_url: str, exchange: str) -> None:
    conn, queue = tap
    plan = SimulationPlan(hosts=1)
    settings = SimulateSettings(amqp_url=SecretStr(amqp_url), control_exchange=exchange)
    simulate_operation(settings, plan, auth_token="tok-1")
    messages = _drain(conn, queue, plan.request_id)
    assert len(messages) == 3
    assert {m["_context_auth_token"] for m in messages} == {"tok-1"}
