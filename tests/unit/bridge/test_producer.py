"""Topic checks at start-up, and the errors a failed send is classified by."""

import pytest
from aiokafka import errors

from precache.bridge.exceptions import KafkaSetupError
from precache.bridge.kafka_errors import InvalidRecordError, Kind, classify, describe
from precache.bridge.settings import BridgeSettings
from precache.bridge.topics import check_topic

SETTINGS = BridgeSettings(raw_partitions=4)
GOOD = {"cleanup.policy": "delete", "max.message.bytes": str(SETTINGS.max_record_bytes)}


def test_a_topic_as_the_bridge_creates_it_passes() -> None:
    check_topic(SETTINGS, SETTINGS.raw_topic, 4, GOOD)
    check_topic(SETTINGS, SETTINGS.dlq_topic, 1, GOOD)


@pytest.mark.parametrize(
    ("topic", "partitions", "config", "says"),
    [
        (SETTINGS.raw_topic, 3, GOOD, "has 3 partitions, raw_partitions is 4"),
        (SETTINGS.raw_topic, 4, {**GOOD, "cleanup.policy": "compact"}, "is compacted"),
        (SETTINGS.dlq_topic, 1, {**GOOD, "cleanup.policy": "compact,delete"}, "is compacted"),
        (SETTINGS.raw_topic, 4, {**GOOD, "max.message.bytes": "1048588"}, "max.message.bytes"),
        (SETTINGS.dlq_topic, 1, {**GOOD, "max.message.bytes": "1048588"}, "max.message.bytes"),
    ],
)
def test_a_wrong_topic_is_one_line_naming_it(
    topic: str, partitions: int, config: dict[str, str], says: str
) -> None:
    with pytest.raises(KafkaSetupError) as raised:
        check_topic(SETTINGS, topic, partitions, config)
    assert says in str(raised.value)
    assert topic in str(raised.value)
    assert "\n" not in str(raised.value)


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
