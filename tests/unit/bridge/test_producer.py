"""KafkaSink.prepare: a topic's partitions, learnt once, waited for while Kafka is away."""

import asyncio
from typing import Any

from aiokafka.errors import KafkaConnectionError, UnknownTopicOrPartitionError

from bridge.producer import KafkaSink
from bridge.settings import BridgeSettings


class _Producer:
    """aiokafka's producer as far as prepare uses it: fails ``failures`` times, then answers."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def partitions_for(self, topic: str) -> set[int]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return {2, 0, 1}


def _sink(producer: Any) -> KafkaSink:
    sink = KafkaSink(BridgeSettings(retry_backoff_max_s=0.01))
    sink._producer = producer
    return sink


def test_prepare_waits_out_kafka_errors_then_knows_the_topic(monkeypatch: Any) -> None:
    """aiokafka raises UnknownTopicOrPartitionError when a metadata wait outlasts its request
    timeout (Kafka stopped): the bridge used to exit on it."""
    sleeps: list[float] = []

    async def no_sleep(delay: float) -> None:
        sleeps.append(delay)

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    producer = _Producer([UnknownTopicOrPartitionError(), KafkaConnectionError()])
    sink = _sink(producer)
    assert not sink.knows("t")
    asyncio.run(sink.prepare("t"))
    assert sink.knows("t")
    assert producer.calls == 3
    assert len(sleeps) == 2
    asyncio.run(sink.prepare("t"))  # learnt once
    assert producer.calls == 3
    assert sink.partition("t", None) in {0, 1, 2}
