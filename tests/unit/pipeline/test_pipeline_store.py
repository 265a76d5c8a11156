"""TableStore over a plain dict (faust tables are mappings): chunking and the open index."""

import orjson

from bench.synthetic import SyntheticOperation, hostnames
from precache.pipeline import engine, events
from precache.pipeline.operation import Limits, json_len
from precache.pipeline.store import TableStore
from tests.support.notifications import notification
from tests.support.schemas import validate


def test_expected_hosts_are_chunked_by_bytes_and_read_back_in_order():
    table: dict[str, object] = {}
    store = TableStore(table, chunk_bytes=20_000)
    hosts = hostnames(3000, prefix="h" * 200)  # 600 KB of names
    store.put_expected("r/op", hosts)
    assert store.get_expected("r/op") == hosts
    chunks = [v for k, v in table.items() if k.startswith("e|r/op|")]
    assert len(chunks) > 30
    assert max(json_len(v) for v in chunks) <= 20_000


def test_engine_runs_on_the_table_store_and_the_open_index_follows_completion():
    store = TableStore({})
    op = SyntheticOperation(hosts=hostnames(3), images=["i"], silent={"guaranine2"})
    for offset, record in enumerate(op.records()):
        engine.commit(engine.process(notification(record), offset, 1, 0.0, store, Limits()), store)
    assert [op_id for op_id, _ in store.open_summaries(1)] == [op.operation_id]
    assert list(store.open_summaries(0)) == []
    (step,) = engine.tick(1, 100.0, store, Limits(grace_period_s=5))
    engine.commit(step, store)
    assert list(store.open_summaries(1)) == []
    summary = store.get_summary(op.operation_id)
    assert summary is not None
    assert summary["missing_hosts"] == ["guaranine2"]


def _apply(store: TableStore, records: list, first: int, last: int) -> None:  # type: ignore[type-arg]
    batch = engine.Batch(store)
    for offset in range(first, last):
        batch.apply(notification(records[offset]), offset, 0, 0.0, Limits())
    batch.flush()


def test_one_marker_record_per_operation_per_batch():
    """Per-host state lives in one marker record per operation per batch, never a key per host:
    the table's keys stay a handful however many hosts report."""
    table: dict[str, object] = {}
    store = TableStore(table)
    op = SyntheticOperation(hosts=hostnames(250), images=["i"])
    records = op.records()
    batches = [(first, min(first + 100, len(records))) for first in range(0, len(records), 100)]
    for first, last in batches:
        _apply(store, records, first, last)
    op_id = op.operation_id
    assert sorted(table) == sorted(
        [f"s|{op_id}", f"e|{op_id}", f"e|{op_id}|0", *(f"m|{op_id}|{i}" for i in range(3))]
    )
    summary = store.get_summary(op_id)
    assert summary is not None
    assert (summary["hosts_reported"], summary["state"]) == (250, "completed")
    assert summary["marker_chunks"] == len(batches)
    # chunk i holds the hosts of batch i (each marker keeps its notification's offset), and
    # every host is in exactly one chunk
    chunks = [table[f"m|{op_id}|{i}"] for i in range(len(batches))]
    for (first, last), chunk in zip(batches, chunks, strict=True):
        assert chunk
        assert all(first <= marker["o"] < last for marker in chunk.values())  # type: ignore[attr-defined]
    assert sorted(h for chunk in chunks for h in chunk) == sorted(hostnames(250))  # type: ignore[attr-defined]


def test_markers_in_a_chunk_the_summary_does_not_count_are_ignored():
    """RocksDB after a SIGKILL can hold a newer marker chunk than its summary (the summary key
    restored from an older changelog record): those hosts must count again, once."""
    table: dict[str, object] = {}
    op = SyntheticOperation(hosts=hostnames(20), images=["i"])
    records = op.records()[:-1]  # no .end
    _apply(TableStore(table), records, 0, 11)  # start + 10 hosts
    older = table[f"s|{op.operation_id}"]
    _apply(TableStore(table), records, 11, 16)  # 5 more hosts: summary, then chunk 1
    table[f"s|{op.operation_id}"] = older  # the summary went back; chunk 1 stayed
    store = TableStore(table)  # a restarted worker: indexes empty
    _apply(store, records, 11, len(records))  # redelivery from the committed offset
    summary = store.get_summary(op.operation_id)
    assert summary is not None
    assert (summary["hosts_reported"], summary["state"]) == (20, "completed")


def test_completed_operations_are_forgotten_after_retention_and_stay_forgotten():
    table: dict[str, object] = {}
    store = TableStore(table)
    limits = Limits(retention_s=3600)
    op = SyntheticOperation(hosts=hostnames(30), images=["i"], failed={"guaranine3": ["i"]})
    records = op.records()
    batch = engine.Batch(store)
    for offset, record in enumerate(records):
        batch.apply(notification(record), offset, 0, 1000.0, limits)
    batch.flush()
    assert store.get_summary(op.operation_id)["state"] == "completed"  # type: ignore[index]

    for now, kept in ((1000.0 + 3599, True), (1000.0 + 3601, False)):
        batch = engine.Batch(store)
        batch.tick(0, now, limits)
        batch.flush()
        assert (store.get_summary(op.operation_id) is not None) is kept
    assert sorted(table) == [f"x|{op.operation_id}"]

    batch = engine.Batch(store)  # a late duplicate does not start the operation again
    step = batch.apply(notification(records[5]), 5, 0, 9000.0, limits)
    batch.flush()
    assert step.note is not None
    assert "retention" in step.note
    assert sorted(table) == [f"x|{op.operation_id}"]


def _table_run(op: SyntheticOperation, limits: Limits, batch: int = 1000) -> dict[str, object]:
    table: dict[str, object] = {}
    store = TableStore(table, chunk_bytes=limits.chunk_bytes)
    records = op.records()
    built = []
    for first in range(0, len(records), batch):
        state = engine.Batch(store, limits.chunk_bytes)
        for offset in range(first, min(first + batch, len(records))):
            step = state.apply(notification(records[offset]), offset, 0, 0.0, limits)
            summary = step.summary or store.get_summary(step.op_id)
            built += [events.encode(summary, e, limits) for e in step.effects]  # type: ignore[arg-type]
        for step in state.tick(0, 100.0, limits):
            built += [events.encode(step.summary, e, limits) for e in step.effects]  # type: ignore[arg-type]
        state.flush()
    table["__events__"] = built
    return table


def test_1500_hosts_x_30_images_state_records_and_events_stay_in_budget():
    """Issue 9, item 3: one marker record of 1.24 MB killed the worker."""
    limits = Limits(grace_period_s=1.0)
    images = [f"{i:08d}-43e9-4c6c-adfd-ab6db0e2bca2" for i in range(30)]
    failed = {h: images for h in hostnames(1500)[::10]}
    op = SyntheticOperation(hosts=hostnames(1500), images=images, failed=failed)
    table = _table_run(op, limits)
    built: list[bytes] = table.pop("__events__")  # type: ignore[assignment]
    sizes = {k: json_len(v) for k, v in table.items()}
    assert max(sizes.values()) <= limits.chunk_bytes
    assert len([k for k in table if k.startswith("m|")]) >= 5
    assert max(len(e) for e in built) <= limits.event_bytes
    summary = TableStore(table).get_summary(op.operation_id)
    assert summary is not None
    assert (summary["hosts_reported"], summary["hosts_failed"]) == (1500, 150)


def test_long_names_keep_lists_capped_by_bytes_with_flags():
    limits = Limits(grace_period_s=1.0, list_bytes=20_000, chunk_bytes=40_000, event_bytes=120_000)
    hosts = hostnames(400, prefix="h" * 250)
    op = SyntheticOperation(hosts=hosts, images=["i"], failed={h: ["i"] for h in hosts[:120]})
    op.silent = set(hosts[300:])
    table = _table_run(op, limits, batch=50)
    built = [orjson.loads(e) for e in table.pop("__events__")]  # type: ignore[attr-defined]
    for event in built:
        validate(event)
    assert max(json_len(v) for v in table.values()) <= limits.chunk_bytes
    (done,) = [e for e in built if e["type"] == "precache.operation.completed"]
    data = done["data"]
    assert data["hosts_failed"] == 220
    assert data["failed_hosts_truncated"] is True
    assert data["missing_hosts_truncated"] is True
    assert 0 < json_len(data["failed_hosts"]) <= limits.list_bytes
    assert 0 < json_len(data["missing_hosts"]) <= limits.list_bytes
