"""Fence around the faust internals that ``pipeline.kafka_transport`` overrides.

The transport changes how faust's consumer fetches and resumes partitions (see its module doc:
each override fixed a measured loss or cost). These tests read faust's own code and fail when
what the overrides rely on changes, so that a faust upgrade is looked at before it is trusted.
"""

import asyncio
import inspect
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, cast

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.producer.message_accumulator import BatchBuilder, MessageBatch
from faust import streams
from faust.serializers import codecs
from faust.stores.rocksdb import Store as RocksDBStore
from faust.tables.base import Collection as TableBase
from faust.tables.recovery import Recovery
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from hypothesis import given
from hypothesis import strategies as st
from mode.utils.collections import ManagedUserDict

from precache.pipeline import batching, record_batches
from precache.pipeline.app import faust_app
from precache.pipeline.kafka_transport import Consumer, ConsumerThread, Producer
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.store import JSON_DUMPS, TrackedTable, partition_scope

OVERRIDDEN = [
    "_getmany",
    "_set_active_tps",
    "resume_partitions",
    "pause_partitions",
    "stop_flow",
    "seek_to_committed",
    "resume_flow",
    "wait_first",
    "getmany",
    "_to_message",
    "ack",
]


def consumer_of(app: faust.App) -> Consumer:
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    return consumer


@contextmanager
def worker_app(settings: WorkerSettings | None = None) -> Iterator[faust.App]:
    """The worker's faust app; its consumer thread's event loop closed afterwards."""
    app = faust_app(settings or WorkerSettings())
    try:
        yield app
    finally:
        consumer_of(app)._thread.thread_loop.close()


def assert_steps(function: Any, *steps: str) -> None:
    """Each of ``steps`` is a line of ``function``'s source."""
    source = inspect.getsource(function)
    for step in steps:
        assert step in source, (function.__qualname__, step)


def test_faust_is_the_version_the_overrides_were_measured_on() -> None:
    assert faust.__version__.startswith("0.15."), faust.__version__


def test_every_overridden_method_exists_in_faust_with_our_signature() -> None:
    for name in OVERRIDDEN:
        ours = inspect.signature(getattr(Consumer, name))
        theirs = inspect.signature(getattr(faust_aiokafka.Consumer, name))
        assert list(ours.parameters) == list(theirs.parameters), name
    assert hasattr(faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer")


def test_recovery_clears_the_buffers_between_the_seek_and_resume_flow() -> None:
    """The held partitions become fetchable in ``resume_flow``: correct only while faust seeks,
    then clears the stream buffers, then resumes the flow, in this order."""
    source = inspect.getsource(Recovery._resume_streams)
    steps = [
        "consumer.resume_partitions(",
        "consumer.perform_seek()",
        "app.flow_control.resume()",
        "consumer.resume_flow()",
    ]
    positions = [source.find(step) for step in steps]
    assert -1 not in positions, dict(zip(steps, positions, strict=True))
    assert positions == sorted(positions)


def test_faust_fetches_with_the_active_set_it_checked_and_drops_inactive_records() -> None:
    source = inspect.getsource(faust_consumer.Consumer._wait_next_records)
    assert "active_partitions = self._get_active_partitions()" in source
    assert re.search(r"self\._getmany\(\s*active_partitions=active_partitions", source)
    getmany = inspect.getsource(faust_consumer.Consumer.getmany)
    assert "tp in active_partitions" in getmany


def test_the_drain_loop_calls_wait_first_with_the_delivery_and_the_suspension() -> None:
    """``Consumer.wait_first`` awaits the delivery directly for this exact call shape."""
    source = inspect.getsource(faust_consumer.Consumer._drain_messages)
    assert re.search(
        r"self\.wait_first\(\s*callback\(message\),\s*self\.suspend_flow\.wait\(\)", source
    )


def test_our_consumer_thread_is_the_one_faust_creates() -> None:
    assert Consumer._new_consumer_thread is not faust_aiokafka.Consumer._new_consumer_thread
    assert issubclass(ConsumerThread, faust_aiokafka.AIOKafkaConsumerThread)


def test_getmany_converts_each_record_after_its_checks_right_before_handing_it_on() -> None:
    """The skip happens in ``_to_message``: it must be called once per record, in order, only
    for records faust hands to the drain loop (active partition, flow on, same generation)."""
    source = inspect.getsource(faust_consumer.Consumer.getmany)
    assert "to_message = self._to_message" in source
    checks = source.find("tp in active_partitions")
    handed = source.find("yield tp, to_message(tp, record)")
    assert -1 < checks < handed, (checks, handed)


def test_the_drain_loop_delivers_one_message_at_a_time_and_checks_the_read_offset() -> None:
    """A skipped record sets the read offset as the drain loop would (no gap is recorded), and
    is never skipped below it; the next record is converted only after the previous one was
    delivered (so a skip knows what is in flight before it)."""
    source = inspect.getsource(faust_consumer.Consumer._drain_messages)
    assert "if r_offset is None or offset >= r_offset:" in source
    deliver = source.find("callback(message)")
    set_offset = source.find("set_read_offset(tp, offset)")
    assert -1 < deliver < set_offset
    assert "async for tp, message in ait:" in source


def test_ack_keeps_the_bookkeeping_skipped_offsets_are_added_to() -> None:
    """``Consumer._ack_offsets`` repeats what ``ack`` does for an offset; ``_new_offset`` commits
    the first run of consecutive acked offsets and tolerates one missing offset after the
    committed one: why skipped offsets wait for the records delivered before them."""
    assert_steps(
        faust_consumer.Consumer.ack,
        "committed = self._committed_offset[tp]",
        "if committed is None or offset >= committed:",
        "acked_index.add(offset)",
        "acked_for_tp.append(offset)",
        "self._n_acked += 1",
        "notify(self._waiting_for_ack)",
        "with ack_lock:",
    )
    new_offset = inspect.getsource(faust_consumer.Consumer._new_offset)
    assert "if min(acked) - committed_offset > 1:" in new_offset
    assert "batch = next(consecutive_numbers(acked))" in new_offset


def test_take_ready_follows_take_events() -> None:
    """``pipeline.batching.take_ready`` is ``take_events`` without the window: the same
    processor, passive drain, acks after the batch; and the stream loop yields to the event
    loop before every event (why the batch is handed over when the queue is empty)."""
    assert_steps(
        streams.Stream.take_events,
        "self.enable_acks = False",
        "self.add_processor(add_to_buffer)",
        "self._enable_passive(cast(ChannelT, channel_it))",
        "event = self.current_event",
        "await self.ack(event)",
    )
    aiter_source = inspect.getsource(streams.Stream._py_aiter)
    assert "await sleep(0)" in aiter_source
    assert "chan_queue = chan.queue" in aiter_source
    ours = inspect.getsource(batching.take_ready)
    assert "stream.enable_acks = False" in ours
    assert "await stream.ack(event)" in ours


def test_faust_builds_its_producer_with_the_extra_settings_we_override() -> None:
    """``kafka_transport.Producer._settings_extra`` makes the producer idempotent; faust must
    still merge that method's settings into the aiokafka producer it creates."""
    assert "**self._settings_extra()," in inspect.getsource(faust_aiokafka.Producer._new_producer)


async def test_the_worker_producer_is_idempotent() -> None:
    """A hole in a changelog partition would recover wrong state (module doc of the
    transport); the aiokafka producer the worker's app really builds is idempotent."""
    app = faust_app(WorkerSettings())
    assert isinstance(app.producer, Producer)
    producer = app.producer._new_producer()
    try:
        assert producer._txn_manager is not None  # aiokafka makes one for idempotence only
        assert app.producer._settings_extra()["acks"] == "all"
    finally:
        await producer.stop()


# The touch points below fail silently or only during a rebalance (which only the fault suite
# exercises) when upstream renames them: each is fenced here, in the unit suite.


def test_aiokafka_reads_the_fetch_wait_from_the_attribute_our_consumer_thread_sets() -> None:
    """``ConsumerThread._create_worker_consumer`` assigns ``_fetch_max_wait_ms`` after aiokafka's
    constructor: were aiokafka to rename it, the assignment would make a dead attribute and
    fetches would wait 1.5 s again (no error anywhere)."""
    assert_steps(AIOKafkaConsumer.__init__, "self._fetch_max_wait_ms = fetch_max_wait_ms")
    assert_steps(AIOKafkaConsumer.start, "fetch_max_wait_ms=self._fetch_max_wait_ms,")
    assert_steps(ConsumerThread._create_worker_consumer, "consumer._fetch_max_wait_ms = ")


async def test_our_consumer_thread_gives_aiokafka_the_worker_s_fetch_wait() -> None:
    with worker_app(WorkerSettings(fetch_max_wait_ms=37)) as app:
        thread = consumer_of(app)._thread
        assert isinstance(thread, ConsumerThread)
        consumer = thread._create_worker_consumer(app.transport)
        try:
            assert consumer._fetch_max_wait_ms == 37
        finally:
            await consumer.stop()


def test_every_table_write_and_delete_goes_through_the_hooks_tracked_table_overrides() -> None:
    """``TrackedTable`` stages a write in ``on_key_set`` and a delete in ``on_key_del``, which
    faust's dict calls before it changes its data; if faust stopped calling them, a batch would
    be acked before its state was confirmed (silently). faust's own hooks do only what ours do
    (send_changelog), plus the key expiry of windowed tables (ours are not) and the table sensor
    (faust's Monitor is not attached): anything more would be lost by the override."""
    assert_steps(
        ManagedUserDict.__setitem__, "self.on_key_set(key, value)", "self.data[key] = value"
    )
    assert_steps(ManagedUserDict.__delitem__, "self.on_key_del(key)", "del self.data[key]")
    assert issubclass(TrackedTable, faust.Table)
    assert {"on_key_set", "on_key_del", "send_changelog"} <= set(vars(TrackedTable))
    calls: dict[Any, list[str]] = {
        faust.Table.on_key_set: ["send_changelog", "partition_for_key", "_maybe_set_key_ttl",
                                 "_sensor_on_set"],
        faust.Table.on_key_del: ["send_changelog", "partition_for_key", "_maybe_del_key_ttl",
                                 "_sensor_on_del"],
    }  # fmt: skip
    for method, expected in calls.items():
        assert re.findall(r"\bself\.(\w+)\(", inspect.getsource(method)) == expected, method
    table = faust_app(WorkerSettings()).Table("fence", partitions=2)
    assert isinstance(table, TrackedTable)
    assert not table._should_expire_keys()


def test_the_worker_app_runs_without_faust_s_monitor_sensor() -> None:
    """faust adds its Monitor to the sensors in ``on_init_dependencies``; the worker takes it
    out there (its per-message and per-table-operation calls, for faust's web pages only)."""
    assert_steps(faust.App.on_init_dependencies, "self.sensors.add(self.monitor)")
    with worker_app() as app:
        app.on_init_dependencies()
        assert app.monitor not in set(app.sensors)
    assert_steps(TrackedTable.on_key_set, "self._stage(self.partition_for_key(key)")


def test_a_rebalance_without_faust_s_monitor_logs_no_missing_sensor_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """faust warns "Missing sensor state for rebalance" at the return and the end of every
    rebalance when no sensor answered its start; without the Monitor none does, so the worker
    gives faust a non-empty state. Fails when faust's rebalance hooks read the state otherwise."""
    for method in (faust.App.on_rebalance_return, faust.App.on_rebalance_end):
        assert "sensor_state = self._rebalancing_sensor_state" in inspect.getsource(method)
    with worker_app() as app:
        app.on_init_dependencies()
        assert not list(app.sensors)
        with caplog.at_level(logging.DEBUG):
            for _ in range(2):
                app.on_rebalance_start()
                app.on_rebalance_return()
                app.on_rebalance_end()
        assert not [r for r in caplog.records if "sensor state" in r.getMessage()]
        assert app._rebalancing_sensor_state is None
        assert app.rebalancing_count == 2


def test_the_changelog_batches_do_what_faust_send_changelog_and_on_published_do() -> None:
    """``TrackedTable.send_changelog`` stands in for faust's own (same callback
    ``_on_changelog_sent``, eager partitioning) and completes the last write of each landed
    record batch as ``Topic._on_published`` would (result, then the callback, which records the
    persisted offset). ``on_key_set``/``on_key_del`` read only ``fut.message.partition`` of what
    it returns. If faust changed any of it, the batches would drift from it: look before
    trusting the upgrade."""
    assert_steps(
        TableBase.send_changelog,
        "return self.changelog_topic.send_soon(",
        "callback=self._on_changelog_sent,",
        "eager_partitioning=True,",
    )
    assert_steps(
        faust.Topic._on_published,
        "message.set_result(res)",
        "if message.message.callback:",
        "message.message.callback(message)",
    )
    assert_steps(
        TableBase._on_changelog_sent,
        "res: RecordMetadata = fut.result()",
        "self.data.set_persisted_offset(res.topic_partition, res.offset)",
    )
    assert_steps(faust_aiokafka.Producer.key_partition, "producer = self._ensure_producer()")


def test_the_changelog_records_are_the_bytes_faust_would_write() -> None:
    """Keys and values encoded with the table's codecs, as faust's ``prepare_key`` and
    ``prepare_value`` do: a key written both ways would be two keys to compaction."""
    app = faust_app(WorkerSettings())
    table = app.Table("fence", partitions=2)
    assert isinstance(table, TrackedTable)
    topic = table.changelog_topic
    for key, value in [
        ("s|region/agg/req-1", {"state": "running", "hosts": 3, "ratio": 0.5}),
        ("e|rég-1/hôst-ü/ímage-✓", {"cached": {"at": "2026-12-06T09:00:00Z"}, "p": 1}),
        ("x|op", None),
        ("a|r/u", "op-id"),
    ]:
        ours_key = table._encoder(table.key_serializer)(key)
        assert ours_key == topic.prepare_key(key, table.key_serializer)[0]
        if value is not None:
            ours_value = table._encoder(table.value_serializer)(value)
            assert ours_value == topic.prepare_value(value, table.value_serializer)[0]
    assert table._encoder(table.value_serializer) is JSON_DUMPS  # the direct path is taken


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text() | st.integers(0, 9), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(value=JSON)
def test_the_direct_json_encoder_writes_faust_s_json_codec_bytes(value: Any) -> None:
    """``TrackedTable`` calls orjson as faust's ``json`` codec ends up doing (its options and
    default): if faust changed how it writes JSON, the two would differ on some value."""
    assert JSON_DUMPS(value) == codecs.get_codec("json").dumps(value)


def test_the_producer_behind_faust_is_the_one_record_batches_use() -> None:
    """``record_batches.aiokafka_producer`` takes faust's aiokafka producer by its private
    ``_ensure_producer``, the one faust's ``send`` and ``flush`` use (so faust's flush before
    a commit waits for our batches too)."""
    assert_steps(faust_aiokafka.Producer.send, "transaction_producer = self._ensure_producer()")
    assert_steps(faust_aiokafka.Producer._ensure_producer, "return self._producer")
    assert_steps(faust_aiokafka.Producer.flush, "await self._producer.flush()")
    assert "_ensure_producer()" in inspect.getsource(record_batches.aiokafka_producer)


def test_the_worker_s_record_batches_hold_producer_batch_bytes() -> None:
    """faust hands ``producer_max_batch_size`` to its aiokafka producer, whose ``create_batch``
    gives ``RecordBatches`` its builders: with faust's 16 kB default a batch of the worker made
    thousands of record batches (a fifth of its CPU in ``bench scale``, bench/README.md Run S6).
    Fails if faust stops passing the setting on or aiokafka's builders stop honouring it."""

    async def filled(faust_producer: faust_aiokafka.Producer) -> int:
        producer = faust_producer._new_producer()
        try:
            builder = producer.create_batch()
            record = {"key": b"region/host/image", "value": b"x" * 700, "timestamp": None}
            while builder.append(**record, headers=[]) is not None:
                pass
            return int(builder.size())
        finally:
            await producer.stop()

    with worker_app(WorkerSettings(producer_batch_bytes=300_000)) as app:
        faust_producer = cast(faust_aiokafka.Producer, app.producer)
        assert faust_producer._settings_default()["max_batch_size"] == 300_000
        assert 290_000 < asyncio.run(filled(faust_producer)) <= 300_000


def test_aiokafka_batches_resolve_to_their_base_offset_and_take_any_first_record() -> None:
    """``TrackedTable`` adds a batch's record count to its result's offset to get the last
    record's (RocksDB's persisted offset); ``RecordBatches`` relies on an empty builder taking
    any record (a larger one then goes alone, and Kafka judges its size)."""
    assert_steps(MessageBatch.done, "base_offset,")
    builder = BatchBuilder(16384, 0)
    assert builder.append(key=b"k", value=b"x" * 100_000, timestamp=None, headers=[]) is not None
    assert builder.record_count() == 1
    assert builder.append(key=b"k", value=b"x", timestamp=None, headers=[]) is None


class Event(SimpleNamespace):
    """A stand-in for faust's event: weakly referenceable, as faust's context variable needs."""


def test_table_partitions_follow_the_event_in_the_context_variable_partition_scope_sets() -> None:
    """``store.partition_scope`` sets faust's private ``_current_event``: if faust stopped
    reading it for a key's changelog partition (or RocksDB's database), a batch's writes would
    silently cross partitions."""
    assert_steps(streams.current_event, "eventref = _current_event.get(None)")
    assert_steps(TableBase.partition_for_key, "event = current_event()", "event.message.partition")
    assert_steps(RocksDBStore._set, "event = current_event()", "event.message.partition")
    assert_steps(partition_scope, "_current_event.set(weakref.ref(event))")
    event = Event(message=SimpleNamespace(partition=3))
    with partition_scope(event):
        assert streams.current_event() is cast(Any, event)
    assert streams.current_event() is None


def test_the_private_members_the_rebalance_paths_use_exist() -> None:
    """``_is_changelog_tp``, ``_paused_partitions``, ``_get_active_partitions`` and ``_thread``
    (with its ``seek_to_beginning``) are used only while partitions move: a rename would be an
    AttributeError in the middle of a rebalance, seen only by the fault suite."""
    with worker_app() as app:
        consumer = consumer_of(app)
        assert callable(consumer._is_changelog_tp)
        assert isinstance(consumer._paused_partitions, set)
        assert isinstance(consumer._get_active_partitions(), set)
        assert callable(consumer._thread.seek_to_beginning)
        assert_steps(faust_consumer.Consumer.pause_partitions, "self._paused_partitions.update(")
        assert_steps(
            faust_consumer.Consumer._set_active_tps,
            "self._active_partitions.difference_update(self._paused_partitions)",
        )


def test_a_normal_revocation_waits_for_the_batch_in_flight() -> None:
    """Why a normal rebalance never moves a partition under a batch (``pipeline.ownership``):
    faust's revocation waits until every message delivered to a stream is acked, before the
    worker rejoins the group."""
    with worker_app() as app:
        assert app.conf.stream_wait_empty is True
        assert_steps(
            faust.App._on_partitions_revoked,
            "await T(self._consumer_wait_empty)(consumer, on_timeout)",
        )
        assert_steps(faust.App._consumer_wait_empty, "await consumer.wait_empty()")
        assert_steps(
            faust_consumer.Consumer.wait_empty,
            "while not self.should_stop and self._unacked_messages:",
        )


def test_the_generation_our_consumer_reads_is_the_one_faust_stamps_on_messages() -> None:
    """``Consumer.generation`` reads aiokafka's coordinator, as faust's rebalance listener does
    to stamp the generation on every message it fetches; aiokafka resets it when the broker
    no longer knows the member (the heartbeat goes on during a revocation)."""
    assert_steps(
        faust_aiokafka.ConsumerRebalanceListener.on_partitions_assigned,
        "generation = self._thread._ensure_consumer()._coordinator.generation",
        "self._thread.app.consumer_generation_id = generation",
    )
    assert_steps(
        faust_aiokafka.Consumer._to_message,
        "generation_id=self.app.consumer_generation_id,",
    )
    assert_steps(Consumer.generation, "self._thread._ensure_consumer()._coordinator.generation")
    assert_steps(
        GroupCoordinator.reset_generation,
        "self.generation = OffsetCommitRequest.DEFAULT_GENERATION_ID",
    )
    heartbeat = inspect.getsource(GroupCoordinator._do_heartbeat)
    for error in ("IllegalGenerationError", "UnknownMemberIdError"):
        after = heartbeat[heartbeat.index(f"error_type is Errors.{error}") :]
        assert after.index("self.reset_generation()") < after.index("elif")
    assert_steps(GroupCoordinator._heartbeat_routine, "success = await self._do_heartbeat()")
    rejoin = inspect.getsource(GroupCoordinator.ensure_active_group)
    assert rejoin.index("await self._on_join_prepare") < rejoin.index("_stop_heartbeat_task()")


def test_a_disowned_message_is_never_acked_nor_waited_for() -> None:
    """``Consumer.disown``: faust's ``Message.ack`` then does nothing (take_ready acks every
    event of a batch), no offset of it reaches the commit bookkeeping, and a revocation's
    ``wait_empty`` no longer counts it."""
    with worker_app() as app:
        consumer = consumer_of(app)
        tp = TP("raw", 0)
        message = Message("raw", 0, 5, 0.0, 0, [], b"k", b"v", None, tp=tp)
        consumer.track_message(message)
        assert message in consumer._unacked_messages
        consumer.disown([message])
        assert message not in consumer._unacked_messages
        assert message.ack(consumer) is False
        assert not consumer._acked[tp]
        assert 5 not in consumer._acked_index[tp]
        assert consumer._n_acked == 0
