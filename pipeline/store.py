"""One faust table behind the engine's :class:`~pipeline.engine.Store` protocol.

One table, so that a batch's writes (summary, then markers) go to one changelog partition in
order. Keys: ``s|op`` summary, ``f|op`` failed hosts, ``m|op|i`` host markers counted by the
``i``-th summary write that counted hosts (one or more records per operation per batch, each
at most ``chunk_bytes``), ``e|op`` + ``e|op|i`` expected hosts (the host list, in records of
at most ``chunk_bytes``), ``a|region/aggregate``
op id for notifications without a request id, ``x|op`` an operation forgotten after its
retention (so a late duplicate does not start it again).

Host lookups go through an in-memory index per operation (host -> marker), loaded from the
operation's marker chunks the first time it is needed (after a start, restart or rebalance)
and dropped when the operation completes: O(hosts) once per operation and worker, not per
notification.
"""

import asyncio
import contextlib
import heapq
import time
import weakref
from collections.abc import Callable, Iterator, MutableMapping
from functools import partial
from typing import Any

import faust
import orjson
from faust.serializers import codecs
from faust.streams import _current_event
from faust.types.tuples import FutureMessage, PendingMessage
from faust.utils import json as faust_json

from precache.pipeline.engine import CHUNK_BYTES, is_open
from precache.pipeline.operation import HELD, HeldEntry, Marker, Summary, as_held, json_len
from precache.pipeline.packing import pack
from precache.pipeline.record_batches import RecordBatches, Sent, aiokafka_producer


@contextlib.contextmanager
def partition_scope(event: Any) -> Iterator[None]:
    """Table reads and writes inside belong to ``event``'s partition.

    faust picks a table key's changelog partition, and with RocksDB the partition database a
    key is read from and written to, from the event being processed (``current_event()``).
    A batch holds events of several partitions, so the worker applies and writes each
    partition's share under one of that partition's events; otherwise an operation's state
    would land in another partition's changelog and database (and be lost on a rebalance).
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


# what faust's "json" codec does (faust.utils.json.dumps with orjson installed)
JSON_DUMPS: Callable[[Any], bytes] = partial(
    orjson.dumps,
    default=faust_json.on_default,
    option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z,
)


class TrackedTable(faust.Table[Any, Any]):
    """A table whose changelog writes can be awaited, sent as record batches per batch.

    faust routes every write and delete through ``send_changelog`` (``Table.on_key_set``,
    ``on_key_del``: overridden here) and only logs a failed send; here the writes of one
    synchronous stretch (a batch's flush) are one *round*: encoded as faust's
    ``send_changelog`` would (the table's codecs, byte for byte), gathered in
    :class:`~pipeline.record_batches.RecordBatches` and handed to the producer by one task as a
    few record batches per partition. Each round is one future (:meth:`take_pending`: the
    agent waits for Kafka before it acks). faust's own path makes a ``FutureMessage`` and a
    producer ``send`` of every write, and its buffer yields between them: ~20,000 produce
    requests for 32,000 notifications in ``bench scale``, then ~157,000 sends in all
    (bench/README.md, Run S4). When a batch lands, the offset of its last record goes to
    ``_on_changelog_sent`` (RocksDB's persisted offset), as faust's callback does per write:
    one future per partition and round. The transport fence checks the faust internals this
    relies on.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[asyncio.Future[None]] = []
        self._round: asyncio.Future[None] | None = None
        self._batches = RecordBatches()
        # partition -> the future of the round's last write there, if one was asked for
        self._last: dict[int, FutureMessage | None] = {}
        self._changelog_name: str | None = None
        self._publisher: asyncio.Future[None] | None = None
        self._encoders: dict[Any, Callable[[Any], bytes]] = {}

    def _encoder(self, serializer: Any) -> Callable[[Any], bytes]:
        """The ``dumps`` of faust's codec for ``serializer``; for ``"json"`` (the tables'),
        the one call it comes down to (faust's codec wraps it in three: 2 % of ``bench scale``'s
        worker), byte for byte the same (the fence checks)."""
        encoder = self._encoders.get(serializer)
        if encoder is None:
            codec = codecs.get_codec(serializer)
            plain = type(codec) is codecs.json and tuple(codec.nodes) == (codec,)
            encoder = self._encoders[serializer] = JSON_DUMPS if plain else codec.dumps
        return encoder

    def on_key_set(self, key: Any, value: Any) -> None:
        """faust's ``Table.on_key_set`` (``__setitem__`` calls it before it stores the value),
        with the write staged in the round. faust's makes a ``FutureMessage`` per write and
        calls two things that do nothing here: the key expiry of windowed tables (these tables
        are not windowed; the fence checks) and the table sensor (faust's Monitor is not
        attached: :class:`~pipeline.kafka_transport.WorkerApp`). Measured in ``bench scale``:
        the future alone was 5 % of the worker (bench/README.md, Run S5)."""
        self._stage(self.partition_for_key(key), key, value, self.key_serializer, None)

    def on_key_del(self, key: Any) -> None:
        """faust's ``Table.on_key_del``, as :meth:`on_key_set`: a tombstone in the round."""
        self._stage(self.partition_for_key(key), key, None, self.key_serializer, None)

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> FutureMessage:
        """faust's entry point for a changelog write made elsewhere: the same round. The
        future resolves if it is its partition's last write of the round (as the records
        before it are in Kafka once it is, nothing waits on the others)."""
        ks = key_serializer or self.key_serializer
        vs = value_serializer or self.value_serializer
        partition = self._stage(partition, key, value, ks, vs)
        fut = self._future(partition, key, value, ks, vs)
        self._last[partition] = fut
        return fut

    def _stage(self, partition: int | None, key: Any, value: Any, ks: Any, vs: Any) -> int:
        """Encode one write as faust's ``send_changelog`` would and add it to the round."""
        name = self._changelog_name
        if name is None:
            name = self._changelog_name = self.changelog_topic.get_topic_name()
        k = self._encoder(ks)(key)
        v = None if value is None else self._encoder(vs or self.value_serializer)(value)
        if partition is None:  # as faust's eager partitioning: the key's partition now
            partition = self.app.producer.key_partition(name, k).partition
        self._batches.add(name, k, v, partition=partition)
        self._last[partition] = None  # send_changelog puts its future here after
        if self._round is None:
            self._round = asyncio.get_running_loop().create_future()
            self.pending.append(self._round)
        if self._publisher is None:
            self._publisher = asyncio.ensure_future(self._publish())
        return partition

    def _future(self, partition: int, key: Any, value: Any, ks: Any, vs: Any) -> FutureMessage:
        """A write's future as faust's ``send_changelog`` returns it (its callback records
        RocksDB's persisted offset)."""
        return FutureMessage(
            PendingMessage(
                self.changelog_topic, key, value, partition, None, None, ks, vs,
                self._on_changelog_sent, self.changelog_topic.get_topic_name(),
            )
        )  # fmt: skip

    async def _publish(self) -> None:
        """Hand every round to the producer (a round's writes were made without an await)."""
        producer = aiokafka_producer(self.app)
        try:
            while self._round is not None:
                done, self._round = self._round, None
                last, self._last = self._last, {}
                try:
                    sent = await self._batches.send(producer)
                except Exception as exc:
                    self._fail(done, exc)
                    return
                landed = asyncio.gather(*sent.futures)
                landed.add_done_callback(partial(self._landed, done, sent, last))
        finally:
            self._publisher = None

    def _fail(self, done: "asyncio.Future[None]", exc: Exception) -> None:
        """The round failed: so does every write made since (keep order; the agent stops)."""
        done.set_exception(exc)
        self._batches = RecordBatches()
        if self._round is not None:
            self._round.set_exception(exc)
            self._round, self._last = None, {}

    def _landed(
        self,
        done: "asyncio.Future[None]",
        sent: Sent,
        last: dict[int, FutureMessage | None],
        landed: "asyncio.Future[list[Any]]",
    ) -> None:
        if landed.cancelled():
            done.cancel()
            return
        exc = landed.exception()
        if exc is not None:
            done.set_exception(exc)
            return
        newest: dict[int, Any] = {}
        for result, count in zip(landed.result(), sent.counts, strict=True):
            newest[result.partition] = result._replace(offset=result.offset + count - 1)
        for partition, result in newest.items():
            fut = last.get(partition)
            if fut is None:  # one future per partition and round, not one per write
                fut = self._future(partition, None, None, None, None)
            fut.set_result(result)
            self._on_changelog_sent(fut)  # RocksDB: the partition's persisted offset
        done.set_result(None)

    def take_pending(self) -> list[asyncio.Future[Any]]:
        pending, self.pending = self.pending, []
        return list(pending)


def no_writes() -> list[asyncio.Future[Any]]:
    """A table without a changelog (a dict) has nothing to wait for."""
    return []


class TableStore:
    def __init__(
        self,
        table: MutableMapping[str, Any],
        chunk_bytes: int = CHUNK_BYTES,
        pending: Callable[[], list[asyncio.Future[Any]]] = no_writes,
    ) -> None:
        self.table = table
        self.chunk_bytes = chunk_bytes
        self.take_pending = pending  # the changelog writes sent since the last call
        self._listed: dict[str, frozenset[str]] = {}  # op id -> its host list, as a set
        self._open: dict[int, set[str]] = {}  # partition -> open op ids (rebuilt on rebalance)
        self._done: dict[int, list[tuple[float, str]]] = {}  # partition -> heap of completions
        self._hosts: dict[str, dict[str, Marker]] = {}  # op id -> host -> marker (see above)

    def get_summary(self, op_id: str) -> Summary | None:
        value: Summary | None = self.table.get(f"s|{op_id}")
        if value is None:
            return None
        return {**value, "failed_hosts": self.table.get(f"f|{op_id}") or []}

    def put_summary(self, op_id: str, summary: Summary) -> None:
        """The capped failed-host list (up to 1000 names) is stored apart and written only when
        it changes, so the per-notification summary write stays small."""
        failed = summary["failed_hosts"]
        if failed != (self.table.get(f"f|{op_id}") or []):
            self.table[f"f|{op_id}"] = failed  # before the summary: see capped_insert
        self.table[f"s|{op_id}"] = {k: v for k, v in summary.items() if k != "failed_hosts"}
        if summary["state"] == "completed":
            self._hosts.pop(op_id, None)  # late duplicates reload it
            self._listed.pop(op_id, None)
        index = self._open.get(summary["partition"])
        if index is not None:
            if is_open(summary):
                index.add(op_id)
            else:
                index.discard(op_id)
            if summary["state"] == "completed":  # a repeat is harmless: see forget
                heapq.heappush(self._done[summary["partition"]], _completion(summary))

    def get_marker(self, op_id: str, host: str) -> Marker | None:
        return self._markers(op_id).get(host)

    def put_markers(self, op_id: str, chunk: int, markers: dict[str, Marker]) -> None:
        self.table[f"m|{op_id}|{chunk}"] = markers
        hosts = self._hosts.get(op_id)
        if hosts is not None:
            hosts.update(markers)

    def _markers(self, op_id: str) -> dict[str, Marker]:
        hosts = self._hosts.get(op_id)
        if hosts is None:
            hosts = self._hosts[op_id] = {}
            summary = self.table.get(f"s|{op_id}")
            for chunk in range(summary.get("marker_chunks", 0) if summary else 0):
                hosts.update(self.table.get(f"m|{op_id}|{chunk}") or {})
        return hosts

    def held(self, op_id: str) -> list[tuple[str, HeldEntry]]:
        """Held progress in arrival order (called only while the operation has no list, when
        its markers are held entries alone)."""
        return [(k, as_held(m)) for k, m in self._markers(op_id).items() if k.startswith(HELD)]

    def is_listed(self, op_id: str, host: str) -> bool:
        listed = self._listed.get(op_id)
        if listed is None:
            listed = self._listed[op_id] = frozenset(self.get_expected(op_id) or ())
        return host in listed

    def get_expected(self, op_id: str) -> list[str] | None:
        head = self.table.get(f"e|{op_id}")
        if head is None:
            return None
        hosts: list[str] = []
        for i in range(head["chunks"]):
            hosts += self.table.get(f"e|{op_id}|{i}") or []
        return hosts

    def put_expected(self, op_id: str, hosts: list[str]) -> None:
        """Written once, in records of at most ``chunk_bytes``: a 100k-host list would exceed
        Kafka's record size."""
        chunks = chunk_list(hosts, self.chunk_bytes)
        for i, chunk in enumerate(chunks):
            self.table[f"e|{op_id}|{i}"] = chunk
        self.table[f"e|{op_id}"] = {"chunks": len(chunks)}
        self._listed.pop(op_id, None)

    def get_alias(self, key: str) -> str | None:
        value: str | None = self.table.get(f"a|{key}")
        return value

    def put_alias(self, key: str, op_id: str) -> None:
        self.table[f"a|{key}"] = op_id

    def open_summaries(self, partition: int) -> Iterator[tuple[str, Summary]]:
        """Open operations of ``partition``; the first call after a rebalance scans the table."""
        self._scan(partition)
        for op_id in list(self._open[partition]):
            summary = self.get_summary(op_id)
            if summary is not None:
                yield op_id, summary

    def expired(self, partition: int, before: float) -> list[str]:
        """Operations of ``partition`` completed (by this worker's clock) before ``before``."""
        self._scan(partition)
        done = self._done[partition]
        out = []
        while done and done[0][0] < before:
            out.append(heapq.heappop(done)[1])
        return out

    def forget(self, op_id: str) -> None:
        """Delete an operation's state (changelog tombstones); the summary goes last, so a
        crash half-way leaves it to be found and forgotten again."""
        summary = self.table.get(f"s|{op_id}")
        if summary is None:
            return
        self.table[f"x|{op_id}"] = summary.get("completed_wall")
        expected = self.table.get(f"e|{op_id}")
        keys = [f"m|{op_id}|{i}" for i in range(summary.get("marker_chunks", 0))]
        keys += [f"e|{op_id}|{i}" for i in range(expected["chunks"] if expected else 0)]
        keys += [f"e|{op_id}", f"f|{op_id}"]
        alias = f"a|{summary['region']}/{summary['aggregate']['uuid']}"
        if self.table.get(alias) == op_id:
            keys.append(alias)
        for key in [*keys, f"s|{op_id}"]:
            if key in self.table:
                del self.table[key]
        self._hosts.pop(op_id, None)
        self._listed.pop(op_id, None)

    def is_forgotten(self, op_id: str) -> bool:
        return f"x|{op_id}" in self.table

    def _scan(self, partition: int) -> None:
        if partition in self._open:
            return
        mine = [s for s in self.summaries() if s["partition"] == partition]
        self._open[partition] = {s["operation_id"] for s in mine if is_open(s)}
        self._done[partition] = [_completion(s) for s in mine if s["state"] == "completed"]
        heapq.heapify(self._done[partition])

    def summaries(self) -> Iterator[Summary]:
        """Every summary this worker holds (HTTP listing and index rebuilds): a scan of the
        keys, so that with RocksDB the marker and expected-host records are not decoded."""
        for key in list(self.table.keys()):
            if isinstance(key, str) and key.startswith("s|"):
                summary = self.get_summary(key[2:])
                if summary is not None:
                    yield summary

    def forget_index(self) -> None:
        """Partitions moved: rebuild the indexes from the table when next asked."""
        self._open.clear()
        self._done.clear()
        self._hosts.clear()
        self._listed.clear()


def chunk_list(hosts: list[str], budget: int) -> list[list[str]]:
    """``hosts`` in lists of at most ``budget`` JSON bytes (host names are far smaller)."""
    return pack(hosts, json_len, budget, 2)


def _completion(summary: Summary) -> tuple[float, str]:
    """Heap entry; summaries from before retention existed count as completed just now."""
    wall = summary.get("completed_wall")
    return (wall if wall is not None else time.time()), summary["operation_id"]
