"""Creates the topics the worker reads and writes, partitioned like the raw topic."""

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from pipeline.settings import WorkerSettings


def topic_specs(settings: WorkerSettings) -> list[NewTopic]:
    """Raw and ticks (co-partitioned), the derived topics; status is compacted."""
    n, rf = settings.raw_partitions, settings.replication_factor
    compact = {"cleanup.policy": "compact"}
    big = {"max.message.bytes": str(settings.max_record_bytes)}
    dlq = {
        "max.message.bytes": str(settings.required_max_message_bytes()[settings.pipeline_dlq_topic])
    }
    return [
        NewTopic(settings.raw_topic, n, rf, topic_configs=big),
        NewTopic(settings.ticks_topic, n, rf, topic_configs={"retention.ms": "3600000"}),
        NewTopic(settings.status_topic, n, rf, topic_configs=compact),
        NewTopic(settings.completed_topic, n, rf),
        NewTopic(settings.host_failed_topic, n, rf),
        NewTopic(settings.stalled_topic, n, rf),
        NewTopic(settings.pipeline_dlq_topic, 1, rf, topic_configs=dlq),
    ]


async def ensure_topics(settings: WorkerSettings) -> list[str]:
    """Create the missing topics; returns the names created. Existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topic_specs(settings) if t.name not in existing]
        if missing:
            # another worker may create them at the same time
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()
