"""Creates the topics the worker reads and writes, and checks the ones that already exist.

Raw, ticks, the derived topics and the tables' changelogs have ``raw_partitions`` partitions:
faust co-partitions the tables with the raw topic, and the derived topics follow it. A topic
made by hand (or by an older version) may differ; the worker refuses to start on it with one
line naming the topic, what is wrong and the command that fixes it, rather than failing later
(a wrong partition count), losing records (compaction of a topic whose records share keys, a
compacted DLQ that refuses keyless records) or wedging (a record over ``max.message.bytes``).
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from precache.errors import BrokerUnreachable, TopicMismatch
from precache.kafka_connection import client_options
from precache.kafka_refusal import raise_if_refused
from precache.pipeline.settings import WorkerSettings

ONE_MIB = 1024 * 1024
RETRY_S = 0.5  # between connection attempts within the connect timeout


def changelog_record_bytes(settings: WorkerSettings) -> int:
    """The largest changelog record the worker writes: under Kafka's default 1 MiB (see
    ``WorkerSettings.required_max_message_bytes``), which faust's own changelog topics get."""
    return ONE_MIB


@dataclass(frozen=True)
class TopicRule:
    """What the worker needs of one existing topic."""

    name: str
    compacted: bool
    min_message_bytes: int | None  # None: no requirement
    partitions: int | None  # None: any count
    why_bytes: str = ""


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
        NewTopic(settings.inventory_topic, n, rf, topic_configs=big),
        NewTopic(settings.image_cache_topic, n, rf, topic_configs=compact),
        NewTopic(settings.rollout_topic, n, rf),  # written by precache rollout / keep-warm
    ]


def topic_rules(settings: WorkerSettings, changelogs: Iterable[str] = ()) -> list[TopicRule]:
    """Every topic the worker reads or writes and what it requires of it."""
    n = settings.raw_partitions
    need = settings.required_max_message_bytes()
    raw_why = "PRECACHE_MAX_RECORD_BYTES"
    event_why = "PRECACHE_MAX_EVENT_BYTES (the worker's largest event)"
    state, state_why = changelog_record_bytes(settings), "the worker's largest state record"
    derived = [settings.completed_topic, settings.host_failed_topic, settings.stalled_topic]
    dlq = settings.pipeline_dlq_topic
    return [
        TopicRule(settings.raw_topic, False, need[settings.raw_topic], n, raw_why),
        TopicRule(settings.ticks_topic, False, None, n),
        TopicRule(settings.status_topic, True, need[settings.status_topic], n, event_why),
        *(TopicRule(name, False, need[name], n, event_why) for name in derived),
        TopicRule(dlq, False, need[dlq], None, raw_why + " (dead letters keep raw values)"),
        TopicRule(settings.inventory_topic, False, need[settings.inventory_topic], n, raw_why),
        TopicRule(settings.image_cache_topic, True, None, None),
        TopicRule(settings.rollout_topic, False, None, None),
        *(TopicRule(name, True, state, n, state_why) for name in changelogs),
    ]


def problems(
    rule: TopicRule, partitions: int, configs: dict[str, str], settings: WorkerSettings
) -> list[str]:
    """What is wrong with one existing topic, each with the command that fixes it."""
    found: list[str] = []
    name, kafka = rule.name, settings.kafka_bootstrap
    alter = (
        f"kafka-configs --bootstrap-server {kafka} --alter --entity-type topics "
        f"--entity-name {name}"
    )
    if rule.partitions is not None and partitions != rule.partitions:
        found.append(_partitions_problem(rule, partitions, settings))
    policy = configs.get("cleanup.policy", "delete")
    if rule.compacted and "compact" not in policy:
        found.append(
            f"topic {name} has cleanup.policy={policy} but must be compacted (it holds the "
            f"latest record per key): {alter} --add-config cleanup.policy=compact"
        )
    if not rule.compacted and "compact" in policy:
        found.append(
            f"topic {name} has cleanup.policy={policy} but must not be compacted (compaction "
            f"drops records that share a key and refuses keyless ones): "
            f"{alter} --add-config cleanup.policy=delete"
        )
    limit = int(configs.get("max.message.bytes", "0") or 0)
    if rule.min_message_bytes is not None and limit < rule.min_message_bytes:
        found.append(
            f"topic {name} has max.message.bytes={limit}, below {rule.min_message_bytes} "
            f"({rule.why_bytes}): {alter} --add-config max.message.bytes={rule.min_message_bytes}"
        )
    return found


def _partitions_problem(rule: TopicRule, partitions: int, settings: WorkerSettings) -> str:
    name, want = rule.name, settings.raw_partitions
    head = f"topic {name} has {partitions} partitions, PRECACHE_RAW_PARTITIONS is {want}"
    topics = f"kafka-topics --bootstrap-server {settings.kafka_bootstrap}"
    if name == settings.raw_topic:
        return (
            f"{head} (tables and derived topics are co-partitioned with it): set "
            f"PRECACHE_RAW_PARTITIONS={partitions} (as the bridge's --raw-partitions)"
        )
    if partitions < want:
        return (
            f"{head} (co-partitioned with the raw topic): "
            f"{topics} --alter --topic {name} --partitions {want}"
        )
    return (
        f"{head} (co-partitioned with the raw topic; partitions cannot be removed): "
        f"{topics} --delete --topic {name}, and the worker creates it again"
    )


@contextlib.contextmanager
def _quiet_kafka_client() -> Iterator[None]:
    """aiokafka logs every failed connection attempt; we report the outcome in one line."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def open_admin(settings: WorkerSettings) -> AIOKafkaAdminClient:
    """An admin client connected to Kafka, retried until ``connect_timeout_s`` has passed."""
    loop = asyncio.get_running_loop()
    timeout = settings.connect_timeout_s
    deadline = loop.time() + timeout
    reason = "no answer"
    with _quiet_kafka_client():
        while True:
            admin = AIOKafkaAdminClient(
                **client_options(settings),
                request_timeout_ms=int(timeout * 1000),
            )
            try:
                await asyncio.wait_for(admin.start(), max(deadline - loop.time(), 0.1))
                return admin
            except (KafkaError, OSError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
                with contextlib.suppress(Exception):
                    await admin.close()
                await raise_if_refused(settings, max(deadline - loop.time(), 0.1), exc)
            if loop.time() + RETRY_S >= deadline:
                break
            await asyncio.sleep(RETRY_S)
    raise BrokerUnreachable(
        f"cannot reach Kafka at {settings.kafka_bootstrap} (--kafka / PRECACHE_KAFKA_BOOTSTRAP) "
        f"within {timeout:g}s (PRECACHE_CONNECT_TIMEOUT_S): {reason}"
    )


async def ensure_topics(settings: WorkerSettings) -> list[str]:
    """Create the missing topics; returns the names created. Existing ones are left alone."""
    admin = await open_admin(settings)
    try:
        return await _create_missing(admin, settings)
    finally:
        await admin.close()


async def prepare_topics(settings: WorkerSettings, changelogs: Iterable[str] = ()) -> list[str]:
    """Create the missing topics and check every existing one (changelogs: faust creates those).

    Raises :class:`BrokerUnreachable` or :class:`TopicMismatch` (all problems in one line).
    """
    admin = await open_admin(settings)
    try:
        created = await _create_missing(admin, settings)
        found = await check_topics(admin, settings, topic_rules(settings, changelogs))
    except KafkaError as exc:
        raise BrokerUnreachable(
            f"Kafka at {settings.kafka_bootstrap} failed while the worker checked its topics: "
            f"{exc!r}"
        ) from exc
    finally:
        await admin.close()
    if found:
        raise TopicMismatch("; ".join(found))
    return created


async def _create_missing(admin: AIOKafkaAdminClient, settings: WorkerSettings) -> list[str]:
    existing = set(await admin.list_topics())
    missing = [t for t in topic_specs(settings) if t.name not in existing]
    if missing:
        # another worker may create them at the same time
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(missing)
    return [t.name for t in missing]


async def check_topics(
    admin: AIOKafkaAdminClient, settings: WorkerSettings, rules: list[TopicRule]
) -> list[str]:
    """Problems of the topics in ``rules`` that exist (a missing changelog is faust's to make).

    Only topics listed as existing are described: a metadata request naming a missing topic
    makes a broker with ``auto.create.topics.enable`` create it, with its defaults.
    """
    existing = set(await admin.list_topics())
    rules = [r for r in rules if r.name in existing]
    if not rules:
        return []
    described = await admin.describe_topics([r.name for r in rules])
    counts = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
    present = [r for r in rules if r.name in counts]
    if not present:
        return []
    resources = [ConfigResource(ConfigResourceType.TOPIC, r.name) for r in present]
    configs = _configs_by_topic(await admin.describe_configs(resources))
    found: list[str] = []
    for rule in present:
        found += problems(rule, counts[rule.name], configs.get(rule.name, {}), settings)
    return found


def _configs_by_topic(responses: list[Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            entries = resource["config_entries"]
            # aiokafka's schema names the entry's name field "config_names"
            out[resource["resource_name"]] = {e["config_names"]: e["config_value"] for e in entries}
    return out
