"""Reads the four derived topics with one consumer and no consumer group.

No group: every watcher reads everything it needs and commits nothing. Partitions are
assigned by hand, and only for topics that exist: asking Kafka for a missing topic by name
would auto-create it (without the status topic's compaction). Topics that appear later, when
the pipeline starts after the watcher, are picked up from their beginning.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from precache.errors import BrokerUnreachable
from precache.kafka_connection import client_options
from precache.kafka_refusal import raise_if_refused
from precache.watch.events import Event, read
from precache.watch.settings import WatchSettings

POLL_MS = 500
REFRESH_S = 2.0


@asynccontextmanager
async def open_kafka_source(settings: WatchSettings) -> AsyncIterator["KafkaEventSource"]:
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        client_id="precache-watch",
        auto_offset_reset="earliest",
        request_timeout_ms=int(settings.connect_timeout_s * 1000) + 1000,
    )
    try:
        await _connect(consumer, settings)
        source = KafkaEventSource(consumer, settings)
        await source.assign_existing()
        yield source
    except KafkaError as exc:  # while reading: one line and exit 3, like a failed connect
        raise BrokerUnreachable(
            f"reading Kafka at {settings.kafka_bootstrap} failed: {exc!r}"
        ) from exc
    finally:
        await consumer.stop()


async def _connect(consumer: AIOKafkaConsumer, settings: WatchSettings) -> None:
    try:
        await asyncio.wait_for(consumer.start(), settings.connect_timeout_s)
    except (KafkaError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        await raise_if_refused(settings, settings.connect_timeout_s, exc)
        raise BrokerUnreachable(
            f"cannot reach Kafka at {settings.kafka_bootstrap} "
            f"(--kafka / PRECACHE_KAFKA_BOOTSTRAP): {reason}"
        ) from exc


class KafkaEventSource:
    def __init__(self, consumer: AIOKafkaConsumer, settings: WatchSettings) -> None:
        self._consumer = consumer
        self._status = settings.status_topic
        self._failed = settings.host_failed_topic
        self._topics = [  # in the order _in_order puts events written at the same time
            settings.status_topic,
            settings.host_failed_topic,
            settings.stalled_topic,
            settings.completed_topic,
        ]
        self._assigned: set[TopicPartition] = set()
        self._backlog_end: dict[TopicPartition, int] = {}
        self._early: list[Event] = []
        self._next_refresh = 0.0

    async def assign_existing(self) -> None:
        """At start-up: status from its beginning, every other topic from its end."""
        found = await self._existing_partitions()
        self._consumer.assign(list(found))
        self._assigned = found
        ends = await self._consumer.end_offsets(list(found)) if found else {}
        for tp in found:
            if tp.topic == self._status:
                self._backlog_end[tp] = ends[tp]
            else:
                self._consumer.seek(tp, ends[tp])
        if self._backlog_end:  # with no argument it would rewind every partition
            await self._consumer.seek_to_beginning(*self._backlog_end)

    async def backlog(self) -> list[Event]:
        others = self._assigned - set(self._backlog_end)
        self._consumer.pause(*others)
        try:
            return await self._read_backlog()
        finally:
            self._consumer.resume(*others)

    async def _read_backlog(self) -> list[Event]:
        pending = {tp: end for tp, end in self._backlog_end.items() if end > 0}
        events: list[Event] = []
        idle = 0
        while pending and idle < 5:
            batch = await self._consumer.getmany(*pending, timeout_ms=POLL_MS)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                for record in records:
                    before_start = record.offset < self._backlog_end[tp]
                    event = read(record.value)
                    if event is not None:
                        (events if before_start else self._early).append(event)
            for tp in list(pending):
                if await self._consumer.position(tp) >= pending[tp]:
                    del pending[tp]
        return events

    async def poll(self) -> list[Event]:
        if self._early:
            early, self._early = self._early, []
            return early
        await self._maybe_refresh()
        if not self._assigned:
            await asyncio.sleep(POLL_MS / 1000)
            return []
        return self._in_order(await self._consumer.getmany(timeout_ms=POLL_MS))

    def _in_order(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> list[Event]:
        """One poll's records across topics in the order they were written (record time, then
        status before failures before stalls before completion), so that a watcher catching up
        sees an operation's progress before its completion."""
        rank = {topic: i for i, topic in enumerate(self._topics)}
        records = [r for rs in batch.values() for r in rs]
        records.sort(key=lambda r: (r.timestamp, rank.get(r.topic, 0)))
        return [e for r in records if (e := read(r.value)) is not None]

    async def rewind_failures(self, since: datetime | None) -> None:
        partitions = [tp for tp in self._assigned if tp.topic == self._failed]
        if not partitions:
            return
        if since is None:
            await self._consumer.seek_to_beginning(*partitions)
            return
        millis = max(0, int(since.timestamp() * 1000))
        found = await self._consumer.offsets_for_times(dict.fromkeys(partitions, millis))
        for tp, hit in found.items():
            if hit is not None:
                self._consumer.seek(tp, hit.offset)

    async def drain_failures(self) -> list[Event]:
        """host.failed up to its end now: completion may be read before the failures that
        preceded it, since they travel on another topic."""
        await self._maybe_refresh(force=True)
        partitions = [tp for tp in self._assigned if tp.topic == self._failed]
        ends = await self._consumer.end_offsets(partitions) if partitions else {}
        pending = {tp: end for tp, end in ends.items() if await self._consumer.position(tp) < end}
        events: list[Event] = []
        while pending:
            batch = await self._consumer.getmany(*pending, timeout_ms=POLL_MS)
            events += [e for rs in batch.values() for r in rs if (e := read(r.value))]
            for tp in list(pending):
                if await self._consumer.position(tp) >= pending[tp]:
                    del pending[tp]
        return events

    async def _maybe_refresh(self, *, force: bool = False) -> None:
        """Adds topics (and partitions) created since start-up, read from their beginning."""
        if {tp.topic for tp in self._assigned} >= set(self._topics):
            return
        if not force and time.monotonic() < self._next_refresh:
            return
        self._next_refresh = time.monotonic() + REFRESH_S
        found = await self._existing_partitions()
        new = found - self._assigned
        if not new:
            return
        positions = {tp: await self._consumer.position(tp) for tp in self._assigned}
        self._consumer.assign(list(found | self._assigned))
        for tp, offset in positions.items():
            self._consumer.seek(tp, offset)
        await self._consumer.seek_to_beginning(*new)
        self._assigned |= new

    async def _existing_partitions(self) -> set[TopicPartition]:
        # aiokafka has no public call that lists partitions without naming the topic (which
        # auto-creates it); its full metadata fetch does not name topics.
        cluster = await self._consumer._client.fetch_all_metadata()
        return {
            TopicPartition(topic, p)
            for topic in self._topics
            for p in cluster.partitions_for_topic(topic) or ()
        }
