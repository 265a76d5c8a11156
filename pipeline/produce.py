"""Our own records go straight to faust's producer, not through ``Topic.send``.

``Topic.send`` wraps every record in faust's channel machinery (a ``FutureMessage``, a
``PendingMessage``, callbacks, sensor calls) before it reaches the same producer; a batch of
the worker sends thousands of records (events, snapshots, inventory inputs, dead letters), so
that wrapping was a large share of its CPU with many operations open at once (bench/README.md,
"Scale"). ``ProducerT.send`` is faust's public producer interface: it still partitions by key
with the producer's partitioner and its records are flushed before faust commits offsets.
The returned future is Kafka's acknowledgement: the caller awaits it.
"""

from collections.abc import Awaitable, Sequence

from faust.types import TopicT
from faust.types.tuples import RecordMetadata

Headers = Sequence[tuple[str, bytes]]


async def produce(
    topic: TopicT,
    key: bytes | None,
    value: bytes,
    headers: Headers | None = None,
    partition: int | None = None,
) -> Awaitable[RecordMetadata]:
    """Hand one record to the topic's app's producer; the result resolves once Kafka has it."""
    return await topic.app.producer.send(
        topic.get_topic_name(), key, value, partition, None, list(headers) if headers else None
    )
