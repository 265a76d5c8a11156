"""The worker's topics and what it requires of each; creating and checking them is
:mod:`precache.kafka_topics`' job, shared with the bridge.

Raw, ticks, the derived topics and the tables' changelogs have ``raw_partitions`` partitions:
faust co-partitions the tables with the raw topic, and the derived topics follow it. A topic
made by hand (or by an older version) may differ; the worker refuses to start on it with one
line naming the topic, what is wrong and the command that fixes it, rather than failing later
(a wrong partition count), losing records (compaction of a topic whose records share keys, a
compacted DLQ that refuses keyless records) or wedging (a record over ``max.message.bytes``).
"""

from collections.abc import Iterable

from aiokafka.errors import KafkaError

from precache import kafka_topics
from precache.errors import BrokerUnreachable
from precache.kafka_topics import TopicRule
from precache.pipeline.settings import WorkerSettings

ONE_MIB = 1024 * 1024
_RAW_WHY = "PRECACHE_MAX_RECORD_BYTES"
_EVENT_WHY = (
    "PRECACHE_MAX_EVENT_BYTES (the worker's largest event) and PRECACHE_PRODUCER_BATCH_BYTES "
    "(its record batches)"
)
_BATCH_WHY = "PRECACHE_PRODUCER_BATCH_BYTES (the worker's record batches)"


def changelog_record_bytes(settings: WorkerSettings) -> int:
    """The largest changelog record the worker writes: under Kafka's default 1 MiB (see
    ``WorkerSettings.required_max_message_bytes``), which faust's own changelog topics get."""
    return ONE_MIB


def topic_rules(settings: WorkerSettings, changelogs: Iterable[str] = ()) -> list[TopicRule]:
    """Every topic the worker reads or writes, how it creates it and what it requires of it.

    Raw and ticks are co-partitioned, the derived topics follow them; status is compacted.
    The changelogs are created here too, as faust would (compacted, ``raw_partitions``): left
    to faust, a table's first write right after start-up can find its changelog in the
    consumer's metadata with 0 partitions and stop the worker with ``PartitionsMismatch``.
    """
    s, n = settings, settings.raw_partitions
    need = settings.required_max_message_bytes()
    big = {"max.message.bytes": str(s.max_record_bytes)}
    state_why = "the worker's largest state record"
    dlq = s.pipeline_dlq_topic
    derived = {
        "PRECACHE_COMPLETED_TOPIC": s.completed_topic,
        "PRECACHE_HOST_FAILED_TOPIC": s.host_failed_topic,
        "PRECACHE_STALLED_TOPIC": s.stalled_topic,
    }
    return [
        TopicRule(
            s.raw_topic, "PRECACHE_RAW_TOPIC", n, False, need[s.raw_topic], _RAW_WHY, big,
            defines_partitions=True,
        ),
        TopicRule(
            s.ticks_topic, "PRECACHE_TICKS_TOPIC", n, False, need[s.ticks_topic], _BATCH_WHY,
            {"retention.ms": "3600000"},
        ),
        TopicRule(
            s.status_topic, "PRECACHE_STATUS_TOPIC", n, True, need[s.status_topic], _EVENT_WHY,
            {"cleanup.policy": "compact"},
        ),
        *(
            TopicRule(name, setting, n, False, need[name], _EVENT_WHY)
            for setting, name in derived.items()
        ),
        TopicRule(
            dlq, "PRECACHE_PIPELINE_DLQ_TOPIC", None, False, need[dlq],
            _RAW_WHY + " (dead letters keep raw values)",
            {"max.message.bytes": str(need[dlq])}, create_partitions=1,
        ),
        TopicRule(
            s.inventory_topic, "PRECACHE_INVENTORY_TOPIC", n, False, need[s.inventory_topic],
            _RAW_WHY, big,
        ),
        TopicRule(
            s.image_cache_topic, "PRECACHE_IMAGE_CACHE_TOPIC", None, True,
            need[s.image_cache_topic], _BATCH_WHY, {"cleanup.policy": "compact"},
            create_partitions=n,
        ),
        # written by precache rollout / keep-warm, read by the rollouts agent (its table is
        # co-partitioned with it)
        TopicRule(s.rollout_topic, "PRECACHE_ROLLOUT_TOPIC", n),
        *(
            TopicRule(
                name, "", n, True, changelog_record_bytes(settings), state_why,
                {"cleanup.policy": "compact"},
            )
            for name in changelogs
        ),
    ]  # fmt: skip


async def ensure_topics(settings: WorkerSettings) -> list[str]:
    """Create the missing topics (for tests and benchmarks); the names created."""
    admin = await kafka_topics.open_admin(
        settings, settings.connect_timeout_s, "PRECACHE_CONNECT_TIMEOUT_S"
    )
    try:
        return await kafka_topics.create_missing(
            admin, topic_rules(settings), settings.topic_replication
        )
    finally:
        await admin.close()


async def prepare_topics(settings: WorkerSettings, changelogs: Iterable[str] = ()) -> None:
    """Create the missing topics (the tables' changelogs too) and check every existing one.

    Raises :class:`BrokerUnreachable`, :class:`BrokerRefused` or :class:`TopicMismatch`
    (all problems in one line).
    """
    admin = await kafka_topics.open_admin(
        settings, settings.connect_timeout_s, "PRECACHE_CONNECT_TIMEOUT_S"
    )
    try:
        rules = topic_rules(settings, changelogs)
        await kafka_topics.prepare(
            admin, rules, settings.topic_replication, settings.kafka_bootstrap
        )
    except KafkaError as exc:
        raise BrokerUnreachable(
            f"Kafka at {settings.kafka_bootstrap} failed while the worker checked its topics: "
            f"{exc!r}"
        ) from exc
    finally:
        await admin.close()
