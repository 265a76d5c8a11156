"""Topic checks at start-up, and the errors a failed send is classified by."""

import pytest
from aiokafka import errors

from precache.bridge.kafka_errors import InvalidRecordError, Kind, classify, describe
from precache.bridge.settings import BridgeSettings
from precache.bridge.topics import topic_rules
from precache.kafka_topics import TopicRule, TopicState, problems

SETTINGS = BridgeSettings(raw_partitions=4, legacy=True)
GOOD = {"cleanup.policy": "delete", "max.message.bytes": str(SETTINGS.max_record_bytes)}
KAFKA = "kafka.example:9092"


def rule(name: str) -> TopicRule:
    return {r.name: r for r in topic_rules(SETTINGS)}[name]


def test_topics_as_the_bridge_creates_them_pass() -> None:
    for made in topic_rules(SETTINGS):
        assert made.create is not None
        partitions = made.partitions or made.create_partitions or 1
        configs = {"cleanup.policy": "delete", **made.create}
        assert problems(made, TopicState(partitions, configs), KAFKA) == [], made.name


@pytest.mark.parametrize(
    ("topic", "partitions", "config", "says"),
    [
        (SETTINGS.raw_topic, 3, GOOD, "has 3 partitions, PRECACHE_RAW_PARTITIONS is 4"),
        (SETTINGS.legacy_topic, 5, GOOD, "has 5 partitions, PRECACHE_RAW_PARTITIONS is 4"),
        (SETTINGS.raw_topic, 4, {**GOOD, "cleanup.policy": "compact"}, "must not be compacted"),
        (SETTINGS.dlq_topic, 1, {**GOOD, "cleanup.policy": "compact,delete"}, "must not be"),
        (SETTINGS.raw_topic, 4, {**GOOD, "max.message.bytes": "1048588"}, "max.message.bytes"),
        (SETTINGS.dlq_topic, 1, {**GOOD, "max.message.bytes": "1048588"}, "max.message.bytes"),
    ],
)
def test_a_wrong_topic_is_one_line_naming_it(
    topic: str, partitions: int, config: dict[str, str], says: str
) -> None:
    (found,) = problems(rule(topic), TopicState(partitions, config), KAFKA)
    assert says in found
    assert topic in found
    assert "\n" not in found


def test_the_dlq_may_have_any_partition_count() -> None:
    assert problems(rule(SETTINGS.dlq_topic), TopicState(3, GOOD), KAFKA) == []


def test_errors_are_refused_fatal_or_a_broken_producer() -> None:
    assert classify(errors.MessageSizeTooLargeError()) is Kind.REFUSED
    assert classify(errors.for_code(87)()) is Kind.REFUSED  # INVALID_RECORD: compacted, no key
    assert classify(errors.TopicAuthorizationFailedError()) is Kind.FATAL
    for broken in (
        errors.OutOfOrderSequenceNumber(),
        errors.UnknownProducerId(),
        errors.ProducerFenced(),
        errors.NotLeaderForPartitionError(),
        errors.KafkaTimeoutError(),
        errors.UnknownError(),
    ):
        assert classify(broken) is Kind.BROKEN


def test_kafka_errors_are_described_with_code_and_meaning() -> None:
    assert describe(InvalidRecordError()).startswith("[Error 87] InvalidRecordError: ")
    assert "maximum message size" in describe(errors.MessageSizeTooLargeError())
