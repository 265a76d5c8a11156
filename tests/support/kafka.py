"""Plain aiokafka clients for the tests: produce raw records, read topics back, create and
alter topics the way an operator would."""

import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import ConsumerRecord

from bench.support import produce as produce  # one copy, shared with the benchmarks
from tests.support.schemas import derived_event


async def read_until(
    bootstrap: str,
    topics: list[str],
    done: Callable[[list[dict[str, Any]]], bool],
    wait_s: float = 60,
) -> list[dict[str, Any]]:
    """Every event on ``topics`` from the beginning until ``done(events)``, then on to the end
    of every partition as it was at that moment (or the timeout); each checked against the event
    contract (``derived_event``). Records of two topics have no order between them: a condition
    met on one (every operation completed) can hold while the reader has fetched only part of
    another (the host.failed events written before those), as the fault suite once saw."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    events: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + wait_s
        ends: dict[Any, int] | None = None
        while time.monotonic() < deadline:
            if ends is None and done(events):
                ends = await consumer.end_offsets(list(consumer.assignment()))
            if ends is not None and all(
                [await consumer.position(tp) >= end for tp, end in ends.items()]
            ):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                events += [derived_event(r) for r in records]
    finally:
        await consumer.stop()
    return events


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == f"precache.{kind}"]


def completed_ids(events: list[dict[str, Any]]) -> set[str]:
    return {e["subject"] for e in of_type(events, "operation.completed")}


async def read_raw(bootstrap: str, topic: str, count: int, wait_s: float = 30) -> list[Any]:
    """The first ``count`` records of ``topic`` (plain aiokafka records)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + wait_s
        while len(out) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


async def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    within: float = 20,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the start, once ``until(records)`` holds (or ``within`` s)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + within
    try:
        while not until(records) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def message_ids(records: Iterable[ConsumerRecord[bytes, bytes]]) -> set[str]:
    return {dict(r.headers)["message_id"].decode() for r in records}


def has_ids(wanted: set[str]) -> Callable[[list[ConsumerRecord[bytes, bytes]]], bool]:
    return lambda records: wanted <= message_ids(records)


async def create_topic(
    bootstrap: str, name: str, partitions: int = 1, configs: dict[str, str] | None = None
) -> None:
    """A topic as someone else might have created it before the bridge ever ran."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
    finally:
        await admin.close()


async def alter_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    """Change a topic's configuration (what an operator's kafka-configs --alter does)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs)])
    finally:
        await admin.close()
