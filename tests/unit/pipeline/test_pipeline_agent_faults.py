"""Fault injection into the agent's batch: every step raises once, somewhere.

A failure about one record (parse, rules, event build) dead-letters that record alone and the
state is as if it had never been applied. A failure that is not (a send, a confirmation, a
state write, the flush) stops the worker before the batch is acked; after a restart on the
changelog prefix, redelivery of the unacked batches gives the exact state: every record
applied or dead-lettered, exactly once.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import pytest
from faust.types import AppT, TopicT

from bench.synthetic import Record, SyntheticOperation, hostnames
from precache.pipeline import agents, engine, events, operation
from precache.pipeline.agents import FATAL_EXIT, guarded
from precache.pipeline.context import Pipeline
from precache.pipeline.gaps import GapGuard
from precache.pipeline.kafka_transport import SkipState
from precache.pipeline.operation import Limits
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.stats import Stats
from precache.pipeline.store import TableStore
from tests.support.record_batches import Batch, BatchApi, Member

SETTINGS = WorkerSettings(raw_topic="raw", ticks_topic="ticks")
LIMITS = Limits(grace_period_s=0.0)


class Injected(Exception):
    pass


class Exited(BaseException):
    pass


@dataclass
class Faults:
    point: str = ""
    at: int = -1
    calls: dict[str, int] = field(default_factory=dict)

    def hit(self, point: str) -> None:
        n = self.calls.get(point, 0)
        self.calls[point] = n + 1
        if point == self.point and n == self.at:
            raise Injected(f"{point} #{n}")


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass(eq=False)
class Event:
    message: Message


class Topic:
    """Stands in for a faust topic: its name and its app's producer are used."""

    def __init__(self, name: str, app: "App") -> None:
        self.name, self.app = name, app

    def get_topic_name(self) -> str:
        return self.name


class Producer(BatchApi):
    """Stands in for faust's producer: records what Kafka confirmed."""

    def __init__(self, sent: list[tuple[str, Any]], faults: Faults) -> None:
        self.sent, self.faults = sent, faults

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: list[tuple[str, bytes]] | None,
    ) -> "asyncio.Future[None]":
        return self._land(topic, partition, [(key, value, headers)])

    async def send_batch(
        self, batch: Batch, topic: str, *, partition: int
    ) -> "asyncio.Future[None]":
        """One fault point per record batch: a batch lands or fails as a whole."""
        return self._land(topic, partition, batch.records)

    def _land(
        self, topic: str, partition: int | None, records: Sequence[Any]
    ) -> "asyncio.Future[None]":
        self.faults.hit("send")
        fut = asyncio.get_running_loop().create_future()
        try:
            self.faults.hit("confirm")
        except Injected as exc:
            fut.set_exception(exc)
        else:
            fut.set_result(None)
            for key, value, headers in records:
                kw = {"key": key, "value": value, "headers": headers, "partition": partition}
                self.sent.append((topic, kw))
        return fut


@dataclass
class App:
    producer: Producer


class Changelog(dict[str, Any]):
    """A table and its changelog: the worker reads the dict; a restart recovers the writes
    Kafka confirmed. A write whose confirmation failed is lost with the crash, and so is every
    write after it: the worker's producer is idempotent, so Kafka appends one producer's
    writes to a partition only in order (``pipeline.kafka_transport``), and one operation's
    keys share a changelog partition."""

    _GONE = object()

    def __init__(self, faults: Faults) -> None:
        super().__init__()
        self.faults = faults
        self.pending: list[asyncio.Future[None]] = []
        self.log: list[tuple[str, Any, bool]] = []
        self.broken = False  # a confirmation failed: nothing after it lands either

    def __setitem__(self, key: str, value: Any) -> None:
        self.faults.hit("table_write")
        super().__setitem__(key, value)
        self._sent(key, value)

    def __delitem__(self, key: str) -> None:
        self.faults.hit("table_write")
        super().__delitem__(key)
        self._sent(key, self._GONE)

    def _sent(self, key: str, value: Any) -> None:
        fut = asyncio.get_running_loop().create_future()
        try:
            self.faults.hit("state_confirm")
            if self.broken:
                raise Injected("after a failed write")
        except Injected as exc:
            self.broken = True
            fut.set_exception(exc)
            self.log.append((key, value, False))
        else:
            fut.set_result(None)
            self.log.append((key, value, True))
        self.pending.append(fut)

    def take_pending(self) -> list[asyncio.Future[None]]:
        pending, self.pending = self.pending, []
        return pending

    def recover(self) -> None:
        """What a restarted worker reads back: the confirmed writes."""
        self.log = [entry for entry in self.log if entry[2]]
        self.pending = []
        self.broken = False
        dict.clear(self)
        for key, value, _ in self.log:
            if value is self._GONE:
                dict.pop(self, key, None)
            else:
                dict.__setitem__(self, key, value)


def pipeline(
    table: Changelog,
    sent: list[tuple[str, Any]],
    faults: Faults,
    member: Member | None = None,
    producer: Producer | None = None,
) -> Pipeline:
    async def nothing(*_: Any) -> Any:
        return {}

    app = App(producer or Producer(sent, faults))

    def topic(name: str) -> TopicT:
        return cast(TopicT, Topic(name, app))

    return Pipeline(
        settings=SETTINGS,
        app=cast(AppT, app),  # only its producer is used
        inputs=topic("raw"),
        ticks=topic("ticks"),
        outputs={k: topic(k) for k in ("status", "completed", "host_failed", "stalled")},
        dlq=topic("dlq"),
        store=TableStore(table, pending=table.take_pending),
        limits=LIMITS,
        gaps=GapGuard(nothing, nothing),
        skips=SkipState("raw"),
        ownership=member or Member(),
        stats=Stats(),
    )


def scenario() -> list[list[Event]]:
    """Two operations on two partitions, a malformed record, an intruder host, a silent host
    completed by a tick; in batches of four."""
    a = SyntheticOperation(
        hosts=hostnames(5),
        images=["i1", "i2"],
        failed={"guaranine2": ["i1"]},
        silent={"guaranine5"},
        request_id="req-a",
        aggregate_uuid="agg-a",
    )
    b = SyntheticOperation(
        hosts=hostnames(3, "cmp"), images=["i1"], request_id="req-b", aggregate_uuid="agg-b"
    )
    intruder = SyntheticOperation(
        hosts=["guaranine1", "intruder"],
        images=["i1"],
        request_id=a.request_id,
        aggregate_uuid=a.aggregate_uuid,
    )
    junk: Record = (b"k", b"{not json", [("event_type", b"aggregate.cache_images.progress")])
    a_records = [*a.records()[:3], junk, intruder.progress("intruder", 1), *a.records()[3:]]
    a_records[4] = (
        *a_records[4][:1],
        a_records[4][1].replace(b'"total":2', b'"total":5'),
        a_records[4][2],
    )
    offsets = {0: 0, 1: 0}
    flat: list[Event] = []
    for partition, records in ((0, a_records), (1, b.records())):
        for key, value, headers in records:
            flat.append(Event(Message("raw", partition, offsets[partition], key, value, headers)))
            offsets[partition] += 1
    flat.sort(key=lambda e: e.message.offset)  # interleave the partitions
    flat.append(Event(Message("ticks", 0, 0, None, b"0", [])))
    return [flat[i : i + 4] for i in range(0, len(flat), 4)]


RAW_COUNT = sum(1 for b in scenario() for e in b if e.message.topic == "raw")
INVALID = {(0, 3), (0, 4)}  # (partition, offset): the junk and the intruder


def run(batches: list[list[Event]], faults: Faults) -> tuple[Changelog, list[tuple[str, Any]]]:
    """The batches through the agent as ``take_ready`` drives it: the next batch starts as
    soon as the agent returns, a batch is acked once its state writes are confirmed. A
    worker-level failure restarts it on the changelog and redelivers from the first unacked
    batch."""
    table, sent = Changelog(faults), list[tuple[str, Any]]()
    exits: list[int] = []

    def exit(code: int) -> None:
        exits.append(code)
        raise Exited

    async def go() -> None:
        p = pipeline(table, sent, faults)
        acked = started = 0  # batches [0, acked) are acked, [acked, started) settling
        settling: dict[int, asyncio.Future[None]] = {}
        while acked < len(batches):
            try:
                if started < len(batches):
                    settled = await guarded(p, batches[started], exit)
                    assert settled is not None  # never dropped: the worker keeps its partitions
                    settling[started] = settled
                    started += 1
                else:
                    await settling[acked]
                while acked < started and settling[acked].done():
                    settling.pop(acked).result()
                    acked += 1
            except Exited:
                for pending in settling.values():
                    if pending.done() and not pending.cancelled():
                        pending.exception()  # retrieved: it failed, or was never acked
                    pending.cancel()
                settling.clear()
                table.recover()
                p = pipeline(table, sent, faults)  # restart: fresh indexes, the changelog
                started = acked

    asyncio.run(go())
    assert exits in ([], [FATAL_EXIT])
    EXITS[:] = exits
    return table, sent


EXITS: list[int] = []  # of the last run


def summaries(table: Changelog) -> dict[str, dict[str, Any]]:
    volatile = {"activity_wall", "completed_wall", "end_wall", "last_hosts", "marker_chunks"}
    volatile |= {"version", "stall_wall"}
    store = TableStore(table)
    return {
        s["operation_id"]: {k: v for k, v in s.items() if k not in volatile}
        for s in store.summaries()
    }


def assert_quarantined_alone(table: Changelog) -> None:
    got, reference = summaries(table), summaries(REFERENCE_TABLE)
    (op_id,) = [k for k, v in got.items() if v.get("quarantined")]
    assert got[op_id]["state"] != "completed"
    assert {k: v for k, v in got.items() if k != op_id} == {
        k: v for k, v in reference.items() if k != op_id
    }


def dead_letters(sent: list[tuple[str, Any]], topic: str = "raw") -> list[tuple[int, int, str]]:
    out = []
    for name, kw in sent:
        h = dict(kw.get("headers") or [])
        if name == "dlq" and h["source_topic"] == topic.encode():
            out.append((int(h["source_partition"]), int(h["source_offset"]), h["reason"].decode()))
    return out


def without(batches: list[list[Event]], gone: set[tuple[int, int]]) -> list[list[Event]]:
    def kept(e: Event) -> bool:
        return e.message.topic != "raw" or (e.message.partition, e.message.offset) not in gone

    return [[e for e in b if kept(e)] for b in batches]


def completed_ids(sent: list[tuple[str, Any]]) -> set[bytes]:
    return {kw["key"] for name, kw in sent if name == "completed"}


REFERENCE_TABLE, REFERENCE_SENT = run(scenario(), Faults())


def test_reference_run_is_exact():
    s = summaries(REFERENCE_TABLE)
    assert sorted((v["hosts_reported"], v["hosts_failed"], v["outcome"]) for v in s.values()) == [
        (3, 0, "succeeded"),
        (4, 2, "partial"),
    ]
    assert {(p, o) for p, o, _ in dead_letters(REFERENCE_SENT)} == INVALID
    assert len(completed_ids(REFERENCE_SENT)) == 2


@pytest.fixture
def record_faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    faults = Faults()
    for module, name, point in (
        (agents, "parse", "parse"),
        (operation, "apply", "apply"),
        (events, "encode", "encode"),
    ):
        real = getattr(module, name)

        def wrapped(*a: Any, _real: Any = real, _point: str = point, **kw: Any) -> Any:
            faults.hit(_point)
            return _real(*a, **kw)

        monkeypatch.setattr(module, name, wrapped)
    return faults


def calls(point: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """How often the fault-free run passes ``point``."""
    faults = Faults()
    real = {"parse": (agents, "parse"), "apply": (operation, "apply"), "encode": (events, "encode")}
    if point in real:
        module, name = real[point]
        original = getattr(module, name)

        def counting(*a: Any, **kw: Any) -> Any:
            faults.hit(point)
            return original(*a, **kw)

        with monkeypatch.context() as m:
            m.setattr(module, name, counting)
            run(scenario(), faults)
    else:
        run(scenario(), faults)
    return faults.calls.get(point, 0)


@pytest.mark.parametrize("point", ["parse", "apply", "encode"])
def test_a_record_that_raises_is_dead_lettered_alone(
    point: str, monkeypatch: pytest.MonkeyPatch, record_faults: Faults
) -> None:
    for at in range(calls(point, monkeypatch)):
        record_faults.point, record_faults.at, record_faults.calls = point, at, {}
        table, sent = run(scenario(), record_faults)
        assert EXITS == []
        quarantined = [(p, o, r) for p, o, r in dead_letters(sent, "ticks")]
        if quarantined:  # the fault hit a tick's event: that operation alone is quarantined
            assert [r for _, _, r in quarantined] == ["tick_error"]
            assert_quarantined_alone(table)
            continue
        dead = dead_letters(sent)
        keys = [(p, o) for p, o, _ in dead]
        assert len(keys) == len(set(keys)), (point, at, dead)  # each exactly once
        failed = {(p, o) for p, o, reason in dead if reason == "apply_error"}
        assert set(keys) == INVALID | failed
        assert len(failed) <= 1
        record_faults.point = ""
        expected, _ = run(without(scenario(), failed), Faults())
        assert summaries(table) == summaries(expected), (point, at, failed)


@pytest.mark.parametrize("point", ["send", "confirm", "table_write", "state_confirm"])
def test_a_worker_level_failure_exits_before_the_ack_and_redelivery_is_exact(
    point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = calls(point, monkeypatch)
    assert total >= 8  # record batches and dead letters (sends), writes: enough points to try
    for at in range(total):
        table, sent = run(scenario(), Faults(point, at))
        assert EXITS == [FATAL_EXIT]
        assert summaries(table) == summaries(REFERENCE_TABLE), (point, at)
        assert {(p, o) for p, o, _ in dead_letters(sent)} == INVALID
        assert completed_ids(sent) == completed_ids(REFERENCE_SENT)


def test_a_failing_flush_exits_before_the_ack(monkeypatch: pytest.MonkeyPatch) -> None:
    real = engine.Batch.flush
    faults = Faults("flush", 1)

    def flush(self: engine.Batch) -> None:
        faults.hit("flush")
        real(self)

    monkeypatch.setattr(engine.Batch, "flush", flush)
    table, _ = run(scenario(), faults)
    assert EXITS == [FATAL_EXIT]
    assert summaries(table) == summaries(REFERENCE_TABLE)


def test_every_record_is_accounted_for_in_the_reference_run():
    applied = RAW_COUNT - len(INVALID)
    assert applied > 10


class HeldBack(Producer):
    """A producer whose confirmations wait for ``release`` while ``holding``: a batch's
    events sent and Kafka slow to confirm them."""

    def __init__(self, sent: list[tuple[str, Any]], faults: Faults) -> None:
        super().__init__(sent, faults)
        self.holding = False
        self.waiting = asyncio.Event()  # a send is held back
        self.release = asyncio.Event()
        self._later: set[asyncio.Task[None]] = set()

    async def send(self, *args: Any) -> "asyncio.Future[None]":
        landed = await super().send(*args)
        if not self.holding:
            return landed
        self.waiting.set()
        held = asyncio.get_running_loop().create_future()

        async def later() -> None:
            await self.release.wait()
            held.set_result(landed.result())

        task = asyncio.ensure_future(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)
        return held


def event_ids(sent: list[tuple[str, Any]]) -> list[str]:
    return [orjson.loads(kw["value"])["id"] for name, kw in sent if name in EVENT_TOPICS]


EVENT_TOPICS = ("status", "completed", "host_failed", "stalled")
MOVED = 2  # the batch whose partitions move while it is applied


def counted(p: Pipeline) -> tuple[int, int, int, int]:
    return p.stats.applied, p.stats.malformed, p.stats.batches, p.stats.ticks


def test_a_batch_whose_partitions_moved_while_its_events_were_confirmed_is_not_written() -> None:
    """Worker A sends batch MOVED's events; while Kafka confirms them, the broker gives A's
    partitions to B (A's revocation outlasted the rebalance timeout, or its session ended:
    ``pipeline.ownership``). B recovers the changelog and applies every batch from the
    committed offset; then A's confirmation comes back. A must not write its older state after
    B's (the next recovery would read it as the newest), nor count the batch, nor ack it.

    Why this level (the agent's batch function, a changelog stand-in shared by A and B, the
    group membership flipped during the confirmation await): a real expulsion needs a revocation
    that outlasts the 60 s rebalance timeout, or a lost session, to fall on one chosen await
    of a worker process; the consumer's side of it (aiokafka resets the generation) is fenced
    in test_pipeline_transport_fence.py."""
    batches = scenario()

    async def go() -> None:
        table, sent = Changelog(Faults()), list[tuple[str, Any]]()
        member, producer = Member(), HeldBack(sent, Faults())
        a = pipeline(table, sent, Faults(), member, producer)
        for batch in batches[:MOVED]:
            settled = await guarded(a, batch)
            assert settled is not None
            await settled
        counts = counted(a)
        producer.holding = True
        applying = asyncio.ensure_future(guarded(a, batches[MOVED]))
        await producer.waiting.wait()
        assert not applying.done()
        sent_by_a = event_ids(sent)
        member.held = False  # the broker gave A's partitions to B
        table.recover()  # B recovers the changelog and applies from the committed offset
        b = pipeline(table, sent, Faults())
        for batch in batches[MOVED:]:
            settled = await guarded(b, batch)
            assert settled is not None
            await settled
        producer.release.set()  # A's confirmation comes back
        settled = await applying
        table.recover()  # the partitions' next recovery
        assert summaries(table) == summaries(REFERENCE_TABLE)
        assert settled is None  # dropped: never acked
        assert member.disowned == batches[MOVED]
        assert counted(a) == counts
        # what A had sent of the batch, B sent again with the same ids: consumers de-duplicate
        a_ids = sent_by_a[len(event_ids(REFERENCE_SENT_UNTIL_MOVED)) :]
        assert a_ids
        assert set(a_ids) <= set(event_ids(sent)[len(sent_by_a) :])

    asyncio.run(go())


def test_a_batch_whose_partitions_moved_before_its_events_were_sent_sends_nothing() -> None:
    """The broker gave the partitions away before the agent got to the batch: nothing of it
    is sent, written or counted (same level as above, for the same reason)."""
    batches = scenario()

    async def go() -> None:
        table, sent = Changelog(Faults()), list[tuple[str, Any]]()
        member = Member()
        a = pipeline(table, sent, Faults(), member)
        for batch in batches[:MOVED]:
            settled = await guarded(a, batch)
            assert settled is not None
            await settled
        log, sends, counts = list(table.log), len(sent), counted(a)
        member.held = False
        assert await guarded(a, batches[MOVED]) is None
        assert (table.log, len(sent), counted(a)) == (log, sends, counts)
        assert member.disowned == batches[MOVED]

    asyncio.run(go())


_, REFERENCE_SENT_UNTIL_MOVED = run(scenario()[:MOVED], Faults())
