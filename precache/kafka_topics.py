"""Our Kafka topics, for every service: created when missing, checked when they exist.

Each service says what it needs as a list of :class:`TopicRule` (``bridge/topics.py``,
``pipeline/topics.py``); this module does the rest, the same way for both, as quix-streams'
one ``TopicAdmin`` does for its app, source and sink:

- :func:`open_admin` connects within a timeout and says why Kafka would not take us
  (:class:`BrokerRefused`) or did not answer (:class:`BrokerUnreachable`);
- :func:`create_missing` creates what is missing and checks aiokafka's per-topic answer:
  ``create_topics`` returns an error code per topic instead of raising, so a refused creation
  (an illegal name, a policy) would otherwise pass for a created topic;
- :func:`prepare` also checks every topic that exists (partition count, cleanup policy,
  ``max.message.bytes``) and raises one :class:`TopicMismatch` listing every problem, each with
  the command that fixes it.

A topic that exists set up wrongly would make Kafka refuse what we write (compaction refuses
keyless records, a small ``max.message.bytes`` refuses large ones) or put one aggregate's
notifications where the worker does not look (a wrong partition count): a start-up error,
one line, exit status 3.
"""

import asyncio
import contextlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError, for_code

from precache.errors import BrokerUnreachable, TopicMismatch
from precache.kafka_connection import KafkaConnection, client_options
from precache.kafka_refusal import raise_if_refused
from precache.logs import quiet_logger

RETRY_S = 0.5  # between connection attempts within the connect timeout
_DESCRIBE_WAIT_S = 5.0  # a topic created a moment ago may not be in the metadata yet
RAW_PARTITIONS = "PRECACHE_RAW_PARTITIONS"


@dataclass(frozen=True)
class TopicRule:
    """One topic a service reads or writes: how to create it and what it needs once it exists.

    ``setting`` is the env var that names the topic (the error names it); ``create`` is
    ``None`` for a topic that is not ours to create.
    """

    name: str
    setting: str
    partitions: int | None  # None: any count
    compacted: bool = False
    min_message_bytes: int | None = None  # None: no requirement
    why_bytes: str = ""
    create: Mapping[str, str] | None = field(default_factory=dict)  # topic configs
    create_partitions: int | None = None  # when ``partitions`` is None
    # the raw topic: its count is the setting's to follow, not the other way round
    defines_partitions: bool = False


@dataclass(frozen=True)
class TopicState:
    """What Kafka says of one existing topic."""

    partitions: int
    configs: dict[str, str]


async def open_admin(
    settings: KafkaConnection, timeout_s: float, timeout_setting: str = ""
) -> AIOKafkaAdminClient:
    """An admin client connected to Kafka, retried until ``timeout_s`` has passed.

    Raises :class:`BrokerRefused` at once when Kafka answers but refuses our TLS or SASL
    settings, :class:`BrokerUnreachable` when it did not answer in time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    reason = "no answer"
    with quiet_logger("aiokafka"):  # every failed attempt would be a log line; we say one
        while True:
            admin = AIOKafkaAdminClient(
                **client_options(settings), request_timeout_ms=int(timeout_s * 1000)
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
        f"within {timeout_s:g}s{f' ({timeout_setting})' if timeout_setting else ''}: {reason}"
    )


async def prepare(
    admin: AIOKafkaAdminClient, rules: Iterable[TopicRule], replication: int, kafka: str
) -> dict[str, TopicState]:
    """Create the missing topics, then check every one that exists; name -> its state.

    Raises :class:`TopicMismatch` (every problem, one line) or the :class:`KafkaError` Kafka
    answered with (the caller decides whether that is worth a retry).
    """
    rules = list(rules)
    created = await create_missing(admin, rules, replication)
    states = await describe(admin, [r.name for r in rules], wait_for=created)
    found = [p for r in rules if r.name in states for p in problems(r, states[r.name], kafka)]
    if found:
        raise TopicMismatch("; ".join(found))
    return states


async def create_missing(
    admin: AIOKafkaAdminClient, rules: Iterable[TopicRule], replication: int
) -> list[str]:
    """Create the rules' topics that do not exist; the names created."""
    existing = set(await admin.list_topics())
    missing = [r for r in rules if r.create is not None and r.name not in existing]
    if not missing:
        return []
    response = await admin.create_topics([_new_topic(r, replication) for r in missing])
    check_created(response.topic_errors, {r.name: r.setting for r in missing})
    return [r.name for r in missing]


def _new_topic(rule: TopicRule, replication: int) -> NewTopic:
    partitions = rule.partitions or rule.create_partitions or 1
    return NewTopic(rule.name, partitions, replication, topic_configs=dict(rule.create or {}))


def check_created(topic_errors: Iterable[Any], settings: Mapping[str, str]) -> None:
    """aiokafka's per-topic answer to ``create_topics``: already exists is fine (another
    process may create them at the same time), a retriable error is raised as the
    :class:`KafkaError` it is, any other is a :class:`TopicMismatch` naming topic and setting."""
    for name, code, *rest in topic_errors:
        error = for_code(code)
        if code == 0 or error is TopicAlreadyExistsError:
            continue
        message = rest[0] if rest and rest[0] else error.__name__
        if error.retriable:
            raise error(message)
        setting = settings.get(name, "")
        named = f" ({setting})" if setting else ""
        raise TopicMismatch(f"cannot create Kafka topic {name}{named}: {message}")


async def describe(
    admin: AIOKafkaAdminClient, names: Collection[str], wait_for: Collection[str] = ()
) -> dict[str, TopicState]:
    """The state of each topic in ``names`` that exists; those in ``wait_for`` (just created)
    are waited for until they show in the metadata.

    Only topics listed as existing are described: a metadata request naming a missing topic
    makes a broker with ``auto.create.topics.enable`` create it, with its defaults.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _DESCRIBE_WAIT_S
    while True:
        counts = await _partitions(admin, names)
        if set(wait_for) <= set(counts):
            break
        if loop.time() >= deadline:
            late = sorted(set(wait_for) - set(counts))
            raise KafkaTimeoutError(f"topics created but not yet in Kafka's metadata: {late}")
        await asyncio.sleep(0.1)
    if not counts:
        return {}
    configs = await _configs(admin, list(counts))
    return {name: TopicState(n, configs.get(name, {})) for name, n in counts.items()}


async def _partitions(admin: AIOKafkaAdminClient, names: Collection[str]) -> dict[str, int]:
    existing = set(await admin.list_topics())
    present = [n for n in names if n in existing]
    if not present:
        return {}
    described = await admin.describe_topics(present)
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}


async def _configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    out: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                error = for_code(resource["error_code"])
                message = resource["error_message"] or error.__name__
                raise TopicMismatch(
                    f"cannot describe Kafka topic {resource['resource_name']}: {message}"
                )
            # aiokafka's schema names the entry's name field "config_names"
            out[resource["resource_name"]] = {
                e["config_names"]: e["config_value"] or "" for e in resource["config_entries"]
            }
    return out


def problems(rule: TopicRule, state: TopicState, kafka: str) -> list[str]:
    """What is wrong with one existing topic, each with the command that fixes it."""
    found: list[str] = []
    name = rule.name
    alter = (
        f"kafka-configs --bootstrap-server {kafka} --alter --entity-type topics "
        f"--entity-name {name}"
    )
    if rule.partitions is not None and state.partitions != rule.partitions:
        found.append(_partitions_problem(rule, state.partitions, kafka))
    policy = state.configs.get("cleanup.policy", "delete")
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
    limit = int(state.configs.get("max.message.bytes", "0") or 0)
    if rule.min_message_bytes is not None and limit < rule.min_message_bytes:
        found.append(
            f"topic {name} has max.message.bytes={limit}, below {rule.min_message_bytes} "
            f"({rule.why_bytes}): {alter} --add-config max.message.bytes={rule.min_message_bytes}"
        )
    return found


def _partitions_problem(rule: TopicRule, partitions: int, kafka: str) -> str:
    name, want = rule.name, rule.partitions
    head = f"topic {name} has {partitions} partitions, {RAW_PARTITIONS} is {want}"
    topics = f"kafka-topics --bootstrap-server {kafka}"
    if rule.defines_partitions:
        return (
            f"{head} (the worker's tables and derived topics are co-partitioned with it): set "
            f"{RAW_PARTITIONS}={partitions} for the bridge and the worker"
        )
    if want is not None and partitions < want:
        return (
            f"{head} (co-partitioned with the raw topic): "
            f"{topics} --alter --topic {name} --partitions {want}"
        )
    return (
        f"{head} (co-partitioned with the raw topic; partitions cannot be removed): "
        f"{topics} --delete --topic {name}, and it is created again at the next start"
    )
