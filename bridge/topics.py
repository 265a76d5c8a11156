"""The bridge's Kafka topics: created when missing, checked when they exist.

A topic that exists with the wrong configuration would make Kafka refuse what the bridge
writes (or, for the raw topic's partition count, put one aggregate's notifications where the
pipeline does not look for them), so it is a start-up error, one line, exit status 3:

- the raw (and legacy) topic must have ``raw_partitions`` partitions;
- no topic of ours may be compacted (``cleanup.policy`` with ``compact``): Kafka refuses a
  record without key there, and dead letters have none;
- ``max.message.bytes`` must be at least ``max_record_bytes``, the producer's limit: the
  largest record the bridge will produce.
"""

import asyncio
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from precache.bridge.exceptions import KafkaSetupError
from precache.bridge.settings import BridgeSettings
from precache.kafka_connection import client_options
from precache.kafka_refusal import refusal

log = structlog.get_logger(__name__)

_DESCRIBE_TRIES = 50


def topics(settings: BridgeSettings) -> dict[str, int]:
    """Topic name -> partitions, for the topics this bridge writes."""
    wanted = {settings.raw_topic: settings.raw_partitions, settings.dlq_topic: 1}
    if settings.legacy:
        wanted[settings.legacy_topic] = settings.raw_partitions
    return wanted


async def ensure_topics(settings: BridgeSettings) -> dict[str, int]:
    """Create missing topics, check the others; topic -> partition count.

    Raises KafkaError (retriable) when Kafka is unreachable, KafkaSetupError when a topic is
    wrong or cannot be created.
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    try:
        await admin.start()
    except KafkaError:
        await admin.close()
        reason = await refusal(settings, 10.0)
        if reason is not None:  # a wrong CA, password or protocol: waiting cannot help
            raise KafkaSetupError(reason) from None
        raise
    try:
        wanted = topics(settings)
        existing = set(await admin.list_topics())
        record_limit = {"max.message.bytes": str(settings.max_record_bytes)}
        missing = [
            NewTopic(name, partitions, settings.topic_replication, topic_configs=record_limit)
            for name, partitions in wanted.items()
            if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            _check_created(response.topic_errors)
            log.info("kafka topics created", topics=[t.name for t in missing])
        partitions = await _described(admin, list(wanted))
        configs = await _configs(admin, list(wanted))
    finally:
        await admin.close()
    for name in wanted:
        check_topic(settings, name, partitions[name], configs[name])
    return partitions


def check_topic(
    settings: BridgeSettings, name: str, partitions: int, config: dict[str, str]
) -> None:
    """Raise KafkaSetupError (one line saying what to change) if ``name`` is not usable."""
    if name != settings.dlq_topic and partitions != settings.raw_partitions:
        raise KafkaSetupError(
            f"Kafka topic {name} has {partitions} partitions, raw_partitions is "
            f"{settings.raw_partitions}: give the bridge the topic's count or use another topic"
        )
    policy = config.get("cleanup.policy", "delete")
    if "compact" in policy:
        raise KafkaSetupError(
            f"Kafka topic {name} is compacted (cleanup.policy={policy}): it would refuse records "
            "without key (dead letters have none) and drop older notifications; use "
            "cleanup.policy=delete"
        )
    limit = int(config.get("max.message.bytes", "0"))
    if limit < settings.max_record_bytes:
        raise KafkaSetupError(
            f"Kafka topic {name} has max.message.bytes={limit}, below max_record_bytes "
            f"({settings.max_record_bytes}), the largest record the bridge writes: raise it "
            f"(kafka-configs --alter --add-config max.message.bytes={settings.max_record_bytes})"
            " or lower --max-record-bytes and --max-body-bytes"
        )


async def _described(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition counts; a topic created a moment ago may not be in the metadata yet."""
    for attempt in range(_DESCRIBE_TRIES):
        try:
            return await _partitions(admin, names)
        except KafkaError as exc:
            if not exc.retriable or attempt == _DESCRIBE_TRIES - 1:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError("unreachable")


async def _partitions(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    described = await admin.describe_topics(names)
    counts: dict[str, int] = {}
    for topic in described:
        error = for_code(topic["error_code"])
        if topic["error_code"]:
            raise error(f"describing topic {topic['topic']}")
        counts[topic["topic"]] = len(topic["partitions"])
    return counts


async def _configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, configs=None) for name in names]
    configs: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                error = for_code(resource["error_code"])
                message = resource["error_message"] or error.__name__
                raise KafkaSetupError(
                    f"cannot describe Kafka topic {resource['resource_name']}: {message}"
                )
            configs[resource["resource_name"]] = {
                entry["config_names"]: entry["config_value"] or ""
                for entry in resource["config_entries"]
            }
    return configs


def _check_created(topic_errors: list[Any]) -> None:
    for name, code, *rest in topic_errors:
        error = for_code(code)
        if code == 0 or error is TopicAlreadyExistsError:
            continue
        message = rest[0] if rest and rest[0] else error.__name__
        if error.retriable:
            raise error(message)
        raise KafkaSetupError(f"cannot create Kafka topic {name}: {message}")
