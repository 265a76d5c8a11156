"""The bridge's Kafka topics and what it requires of each; creating and checking them is
:mod:`precache.kafka_topics`' job, shared with the worker.

- the raw (and legacy) topic must have ``raw_partitions`` partitions;
- no topic of ours may be compacted (``cleanup.policy`` with ``compact``): Kafka refuses a
  record without key there, and dead letters have none;
- ``max.message.bytes`` must be at least ``max_record_bytes``, the producer's limit: the
  largest record the bridge will produce.
"""

import structlog

from precache import kafka_topics
from precache.bridge.settings import BridgeSettings
from precache.kafka_topics import TopicRule

log = structlog.get_logger(__name__)

_CONNECT_S = 10.0  # one attempt; KafkaSink.start retries with backoff, forever
_WHY_BYTES = (
    "PRECACHE_MAX_RECORD_BYTES, the largest record the bridge writes; or lower "
    "--max-record-bytes and --max-body-bytes"
)


def topic_rules(settings: BridgeSettings) -> list[TopicRule]:
    """The topics this bridge writes: raw (and legacy) co-partitioned, the DLQ one partition."""
    limit = settings.max_record_bytes
    create = {"max.message.bytes": str(limit)}
    n = settings.raw_partitions
    rules = [
        TopicRule(
            settings.raw_topic, "PRECACHE_RAW_TOPIC", n, False, limit, _WHY_BYTES, create,
            defines_partitions=True,
        ),
        TopicRule(
            settings.dlq_topic, "PRECACHE_DLQ_TOPIC", None, False, limit, _WHY_BYTES, create,
            create_partitions=1,
        ),
    ]  # fmt: skip
    if settings.legacy:
        rules.append(
            TopicRule(
                settings.legacy_topic, "PRECACHE_LEGACY_TOPIC", n, False, limit, _WHY_BYTES, create
            )
        )
    return rules


async def ensure_topics(settings: BridgeSettings) -> dict[str, int]:
    """Create missing topics, check the others; topic -> partition count.

    Raises :class:`BrokerUnreachable` or a :class:`KafkaError` (retriable: the caller waits
    and tries again), :class:`BrokerRefused` or :class:`TopicMismatch` (fatal).
    """
    admin = await kafka_topics.open_admin(settings, _CONNECT_S)
    try:
        rules = topic_rules(settings)
        states = await kafka_topics.prepare(
            admin, rules, settings.topic_replication, settings.kafka_bootstrap
        )
    finally:
        await admin.close()
    log.info("kafka topics ready", topics=sorted(states))
    return {rule.name: states[rule.name].partitions for rule in rules}
