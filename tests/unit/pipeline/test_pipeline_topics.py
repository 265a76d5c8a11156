"""What the worker requires of existing topics, and the fix it prints (pure; no Kafka)."""

from precache import kafka_topics
from precache.kafka_topics import TopicRule, TopicState
from precache.pipeline.settings import RECORD_OVERHEAD, WorkerSettings
from precache.pipeline.topics import ONE_MIB, topic_rules

SETTINGS = WorkerSettings(raw_partitions=4)
GOOD = {"cleanup.policy": "delete", "max.message.bytes": str(SETTINGS.max_record_bytes)}


def rule(name: str) -> TopicRule:
    return {r.name: r for r in topic_rules(SETTINGS, ["app-operations-changelog"])}[name]


def problems(
    made: TopicRule, partitions: int, configs: dict[str, str], settings: WorkerSettings
) -> list[str]:
    return kafka_topics.problems(made, TopicState(partitions, configs), settings.kafka_bootstrap)


def test_topics_as_the_worker_creates_them_have_no_problem() -> None:
    broker_default = "1048588"  # Kafka's message.max.bytes: what a topic without the config gets
    for spec in topic_rules(SETTINGS):
        assert spec.create is not None
        configs = {
            "cleanup.policy": spec.create.get("cleanup.policy", "delete"),
            "max.message.bytes": spec.create.get("max.message.bytes", broker_default),
        }
        partitions = spec.partitions or spec.create_partitions or 1
        assert problems(spec, partitions, configs, SETTINGS) == [], spec.name
    changelog = {"cleanup.policy": "compact", "max.message.bytes": broker_default}
    assert problems(rule("app-operations-changelog"), 4, changelog, SETTINGS) == []


def test_each_problem_is_named_with_its_fix() -> None:
    found = problems(
        rule(SETTINGS.host_failed_topic),
        8,
        {"cleanup.policy": "compact", "max.message.bytes": "1000"},
        SETTINGS,
    )
    name = SETTINGS.host_failed_topic
    assert len(found) == 3
    assert found[0].startswith(f"topic {name} has 8 partitions, PRECACHE_RAW_PARTITIONS is 4")
    assert f"--delete --topic {name}" in found[0]  # partitions cannot be removed
    assert found[1].endswith(f"--entity-name {name} --add-config cleanup.policy=delete")
    needed = SETTINGS.required_max_message_bytes()[name]
    assert found[2].endswith(f"--entity-name {name} --add-config max.message.bytes={needed}")


def test_compact_delete_counts_as_compacted() -> None:
    configs = {"cleanup.policy": "compact,delete", "max.message.bytes": str(ONE_MIB)}
    assert problems(rule(SETTINGS.status_topic), 4, configs, SETTINGS) == []
    assert problems(rule(SETTINGS.completed_topic), 4, configs, SETTINGS) != []


def test_the_dlq_may_have_any_partition_count_but_must_take_raw_records() -> None:
    small = {**GOOD, "max.message.bytes": str(ONE_MIB)}
    dlq = SETTINGS.pipeline_dlq_topic
    (found,) = problems(rule(dlq), 3, small, SETTINGS)
    needed = SETTINGS.required_max_message_bytes()[dlq]
    assert needed > SETTINGS.max_record_bytes  # a dead letter is a raw record plus headers
    assert f"max.message.bytes={needed}" in found
    assert problems(rule(dlq), 3, {**GOOD, "max.message.bytes": str(needed)}, SETTINGS) == []


def test_every_topic_the_worker_writes_takes_one_of_its_record_batches() -> None:
    """Kafka checks ``max.message.bytes`` per record batch, and the worker packs a partition's
    records into batches of up to ``producer_batch_bytes``: a topic that takes the largest
    event but not a batch would refuse a batch of small events (the worker would exit 70)."""
    s = WorkerSettings(raw_partitions=4, max_event_bytes=64 * 1024, producer_batch_bytes=512 * 1024)
    need = s.required_max_message_bytes()
    batch = 512 * 1024 + RECORD_OVERHEAD
    written = [
        s.status_topic, s.completed_topic, s.host_failed_topic, s.stalled_topic,
        s.pipeline_dlq_topic, s.inventory_topic, s.image_cache_topic, s.ticks_topic,
    ]  # fmt: skip
    assert all(need[topic] >= batch for topic in written)
    assert need[s.status_topic] == batch  # the batch, not the (smaller) largest event
    rules = {r.name: r for r in topic_rules(s)}
    for topic in (s.image_cache_topic, s.completed_topic):
        configs = {"cleanup.policy": "compact", "max.message.bytes": str(batch - 1)}
        found = [p for p in problems(rules[topic], 4, configs, s) if "max.message.bytes" in p]
        assert len(found) == 1, topic
        assert "PRECACHE_PRODUCER_BATCH_BYTES" in found[0]
        assert found[0].endswith(f"--add-config max.message.bytes={batch}")
    assert WorkerSettings().producer_batch_bytes + RECORD_OVERHEAD <= ONE_MIB  # the changelogs
