"""What the worker requires of existing topics, and the fix it prints (pure; no Kafka)."""

from pipeline.settings import WorkerSettings
from pipeline.topics import ONE_MIB, TopicRule, problems, topic_rules

SETTINGS = WorkerSettings(raw_partitions=4)
GOOD = {"cleanup.policy": "delete", "max.message.bytes": str(SETTINGS.max_record_bytes)}


def rule(name: str) -> TopicRule:
    return {r.name: r for r in topic_rules(SETTINGS, ["app-operations-changelog"])}[name]


def test_topics_as_the_worker_creates_them_have_no_problem() -> None:
    compacted = {**GOOD, "cleanup.policy": "compact"}
    assert problems(rule(SETTINGS.raw_topic), 4, GOOD, SETTINGS) == []
    assert problems(rule(SETTINGS.status_topic), 4, compacted, SETTINGS) == []
    assert problems(rule("app-operations-changelog"), 4, compacted, SETTINGS) == []
    assert problems(rule(SETTINGS.pipeline_dlq_topic), 1, GOOD, SETTINGS) == []


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
    assert found[2].endswith(f"--entity-name {name} --add-config max.message.bytes={ONE_MIB}")


def test_compact_delete_counts_as_compacted() -> None:
    configs = {"cleanup.policy": "compact,delete", "max.message.bytes": str(ONE_MIB)}
    assert problems(rule(SETTINGS.status_topic), 4, configs, SETTINGS) == []
    assert problems(rule(SETTINGS.completed_topic), 4, configs, SETTINGS) != []


def test_the_dlq_may_have_any_partition_count_but_must_take_raw_records() -> None:
    small = {**GOOD, "max.message.bytes": str(ONE_MIB)}
    (found,) = problems(rule(SETTINGS.pipeline_dlq_topic), 3, small, SETTINGS)
    assert f"max.message.bytes={SETTINGS.max_record_bytes}" in found
