"""The aggregation rules, through the same engine the worker runs, against a dict store."""

import random
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.synthetic import Record, SyntheticOperation, hostnames
from precache.pipeline import engine
from precache.pipeline.operation import (
    HELD,
    Limits,
    Step,
    Summary,
    capped_insert,
    natural_key,
    outcome,
)
from tests.support.dict_store import DictStore
from tests.support.notifications import notification

LIMITS = Limits(grace_period_s=5, stall_after_s=60, failed_hosts_cap=1000)
IMAGE = "img-1"


def run(records: list[Record], store: DictStore, first: int = 0, now: float = 0.0) -> list[Step]:
    steps = []
    for offset in range(first, len(records)):
        step = engine.process(notification(records[offset]), offset, 0, now, store, LIMITS)
        engine.commit(step, store)
        steps.append(step)
    return steps


def kinds(steps: list[Step]) -> list[str]:
    return [e.kind for s in steps for e in s.effects]


def operation(n_hosts: int, n_failed: int, seed: int = 0, **kw: Any) -> SyntheticOperation:
    hosts = hostnames(n_hosts)
    failed = {h: [IMAGE] for h in random.Random(seed).sample(hosts, n_failed)}
    return SyntheticOperation(hosts=hosts, images=[IMAGE, "img-2"], failed=failed, **kw)


def only_summary(store: DictStore) -> Summary:
    (summary,) = store.summary.values()
    return summary


@settings(max_examples=60, deadline=None)
@given(
    n_hosts=st.integers(1, 30),
    data=st.data(),
)
def test_any_order_with_duplicates_counts_each_host_once(n_hosts: int, data: st.DataObject):
    n_failed = data.draw(st.integers(0, n_hosts))
    op = operation(n_hosts, n_failed, seed=n_hosts)
    records = op.records()
    dupes = data.draw(st.lists(st.sampled_from(records), max_size=10))
    shuffled = data.draw(st.permutations(records + dupes))
    store = DictStore()
    steps = run(shuffled, store)
    s = only_summary(store)
    assert (s["hosts_total"], s["hosts_reported"], s["hosts_failed"]) == (
        n_hosts,
        n_hosts,
        n_failed,
    )
    assert s["state"] == "completed"
    assert s["outcome"] == outcome(n_failed, n_hosts)
    assert kinds(steps).count("completed") == 1
    assert kinds(steps).count("host_failed") == n_failed
    assert s["failed_hosts"] == sorted(op.failed, key=natural_key)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_crash_anywhere_then_redelivery_gives_exact_counts(data: st.DataObject):
    """Kill the worker anywhere: the input is committed up to ``committed``, the one changelog
    keeps any prefix of the writes made after it, and delivery resumes at ``committed``."""
    crash_then_redeliver(data, run, run)


Runner = Callable[[list[Record], DictStore, int], object]


def crash_then_redeliver(
    data: st.DataObject, first: Runner, replay: Runner, held_first: bool = False
) -> None:
    n_hosts = data.draw(st.integers(1, 12))
    op = operation(n_hosts, data.draw(st.integers(0, n_hosts)), seed=3)
    if held_first:  # every progress before the list: held, then resolved by the start
        records = [*data.draw(st.permutations(op.all_progress())), op.start(), op.end()]
    else:
        records = data.draw(st.permutations(op.records()))
    records += data.draw(st.lists(st.sampled_from(records), max_size=4))
    crash = data.draw(st.integers(0, len(records) - 1))
    committed = data.draw(st.integers(0, crash))

    store = DictStore()
    first(records[:committed], store, 0)
    log = RecordingStore(store)
    first(records[: crash + 1], log, committed)
    for write in log.writes[: data.draw(st.integers(0, len(log.writes)))]:
        write(store)

    replay(records, store, committed)
    s = only_summary(store)
    assert (s["hosts_reported"], s["hosts_failed"]) == (n_hosts, len(op.failed))
    assert s["state"] == "completed"
    assert {host for (_, host), m in store.markers.items() if m["f"] and not held(host)} == set(
        op.failed
    )


def held(key: str) -> bool:
    return key.startswith(HELD)


class RecordingStore(DictStore):
    """Reads see the run's own writes (as faust tables do); ``writes`` replays them in order."""

    def __init__(self, base: DictStore) -> None:
        super().__init__()
        self.summary = dict(base.summary)
        self.markers = dict(base.markers)
        self.expected = dict(base.expected)
        self.aliases = dict(base.aliases)
        self.writes: list[Callable[[DictStore], None]] = []

    def put_summary(self, op_id: str, summary: Summary) -> None:
        super().put_summary(op_id, summary)
        self.writes.append(lambda s: s.put_summary(op_id, summary))

    def put_markers(self, op_id: str, chunk: int, markers: dict[str, Any]) -> None:
        super().put_markers(op_id, chunk, markers)
        self.writes.append(lambda s: s.put_markers(op_id, chunk, markers))

    def put_expected(self, op_id: str, hosts: list[str]) -> None:
        super().put_expected(op_id, hosts)
        self.writes.append(lambda s: s.put_expected(op_id, hosts))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_out_of_order_delivery_after_rebalance_still_counts_once(data: st.DataObject):
    """faust-streaming#221: after a rebalance a prefetched later record can arrive first; then
    the records from the committed offset follow. Offsets are not trusted for ordering."""
    n_hosts = data.draw(st.integers(2, 12))
    op = operation(n_hosts, data.draw(st.integers(0, n_hosts)), seed=4)
    records = op.records()[:-1]  # no .end: completion only by counting
    store = DictStore()
    committed = data.draw(st.integers(0, len(records) - 1))
    run(records[:committed], store)
    early = data.draw(st.integers(committed, len(records) - 1))
    step = engine.process(notification(records[early]), early, 0, 0.0, store, LIMITS)
    engine.commit(step, store)
    run(records, store, committed)
    s = only_summary(store)
    assert (s["hosts_reported"], s["hosts_failed"], s["state"]) == (
        n_hosts,
        len(op.failed),
        "completed",
    )


def test_progress_before_start_counts():
    op = operation(3, 0)
    records = op.records()
    store = DictStore()
    run([records[1], records[2], records[0], records[3], records[4]], store)
    s = only_summary(store)
    assert (s["hosts_reported"], s["state"], s["outcome"]) == (3, "completed", "succeeded")
    assert s["started_at"] == "2026-11-23T19:04:24.000000Z"


def test_end_with_missing_host_completes_after_grace_with_no_report():
    op = SyntheticOperation(
        hosts=hostnames(5), images=[IMAGE], failed={"guaranine1": [IMAGE]}, silent={"guaranine4"}
    )
    store = DictStore()
    steps = run(op.records(), store, now=100.0)
    assert only_summary(store)["state"] == "running"
    assert engine.tick(0, 104.0, store, LIMITS) == []  # still within the grace period
    (step,) = engine.tick(0, 105.0, store, LIMITS)
    engine.commit(step, store)
    s = only_summary(store)
    assert (s["state"], s["outcome"], s["hosts_failed"]) == ("completed", "partial", 2)
    assert s["missing_hosts"] == ["guaranine4"]
    no_report = [e.host for e in step.effects if e.kind == "host_failed"]
    assert no_report == [
        {
            "host": "guaranine4",
            "images_failed": [],
            "images_cached": [],
            "reason": "no_report",
            "at": s["updated_at"],
        }
    ]
    assert kinds([*steps, step]).count("completed") == 1
    assert engine.tick(0, 500.0, store, LIMITS) == []


def test_no_end_is_stalled_never_completed_and_progress_resumes():
    op = operation(4, 0)
    records = op.records()
    store = DictStore()
    run(records[:3], store, now=0.0)  # start + 2 of 4 hosts, then the conductor died
    (stalled,) = engine.tick(0, 60.0, store, LIMITS)
    engine.commit(stalled, store)
    assert [e.kind for e in stalled.effects] == ["stalled", "status"]
    assert engine.tick(0, 100.0, store, LIMITS) == []  # one stalled event per period
    (again,) = engine.tick(0, 120.0, store, LIMITS)
    engine.commit(again, store)
    assert only_summary(store)["stalls"] == 2
    assert only_summary(store)["state"] == "stalled"
    step = engine.process(notification(records[3]), 3, 0, 130.0, store, LIMITS)
    engine.commit(step, store)
    assert only_summary(store)["state"] == "running"
    assert engine.tick(0, 10_000.0, store, LIMITS)[0].summary["state"] == "stalled"  # type: ignore[index]


def test_same_aggregate_twice_and_two_regions_stay_apart():
    first = operation(3, 0)
    second = operation(3, 3, aggregate_uuid=first.aggregate_uuid)
    other_region = operation(3, 1, aggregate_uuid=first.aggregate_uuid, region="region-b")
    store = DictStore()
    run(first.records() + second.records() + other_region.records(), store)
    outcomes = {op_id: s["outcome"] for op_id, s in store.summary.items()}
    assert outcomes == {
        first.operation_id: "succeeded",
        second.operation_id: "failed",
        other_region.operation_id: "partial",
    }


def test_without_request_id_identity_falls_back_to_aggregate_and_start_time():
    op = operation(2, 0, request_id=None)
    store = DictStore()
    run(op.records(), store)
    (op_id,) = store.summary
    assert op_id == f"region-a/{op.aggregate_uuid}/2026-11-23T19:04:24.000000Z"
    assert store.summary[op_id]["state"] == "completed"


def test_failed_hosts_natural_order_and_cap():
    hosts: list[str] = []
    for h in ["guaranine10", "guaranine2", "guaranine1", "guaranine33"]:
        hosts = capped_insert(hosts, h, Limits(failed_hosts_cap=3))
    assert hosts == ["guaranine1", "guaranine2", "guaranine10"]


def test_summary_write_does_not_grow_with_operation_size():
    sizes = {}
    for n in (100, 5000):
        store = DictStore()
        run(operation(n, 0).records()[:-1], store)
        sizes[n] = len(repr(only_summary(store)))
    assert sizes[5000] < sizes[100] + 50


def run_batches(
    records: list[Record], store: DictStore, sizes: list[int], first: int = 0
) -> list[Step]:
    """Apply ``records[first:]`` as the worker does: in batches of ``sizes`` (cycled)."""
    steps = []
    offset, turn = first, 0
    while offset < len(records):
        batch = engine.Batch(store)
        end = min(offset + sizes[turn % len(sizes)], len(records))
        for i in range(offset, end):
            steps.append(batch.apply(notification(records[i]), i, 0, 0.0, LIMITS))
        batch.flush()
        offset, turn = end, turn + 1
    return steps


batch_sizes = st.lists(st.integers(1, 8), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), sizes=batch_sizes)
def test_batches_give_the_same_state_and_events_as_one_by_one(
    data: st.DataObject, sizes: list[int]
):
    n_hosts = data.draw(st.integers(1, 20))
    op = operation(n_hosts, data.draw(st.integers(0, n_hosts)), seed=5)
    records = data.draw(st.permutations(op.records()))
    records += data.draw(st.lists(st.sampled_from(records), max_size=6))
    one, batched = DictStore(), DictStore()
    steps_one = run(records, one)
    steps_batched = run_batches(records, batched, sizes)
    assert kinds(steps_batched) == kinds(steps_one)
    strip = {"last_hosts", "activity_wall", "marker_chunks"}
    a, b = only_summary(one), only_summary(batched)
    assert {k: v for k, v in a.items() if k not in strip} == {
        k: v for k, v in b.items() if k not in strip
    }
    assert batched.markers == one.markers


@settings(max_examples=150, deadline=None)
@given(data=st.data(), sizes=batch_sizes, replay_sizes=batch_sizes)
def test_crash_anywhere_in_batches_then_redelivery_gives_exact_counts(
    data: st.DataObject, sizes: list[int], replay_sizes: list[int]
):
    """As above, with batches: the crash keeps any prefix of the batches' writes, and the
    redelivery cuts batches differently from the first run."""
    crash_then_redeliver(
        data,
        lambda records, store, first: run_batches(records, store, sizes, first),
        lambda records, store, first: run_batches(records, store, replay_sizes, first),
    )


class CountingStore(DictStore):
    def __init__(self) -> None:
        super().__init__()
        self.summary_writes = 0

    def put_summary(self, op_id: str, summary: Summary) -> None:
        super().put_summary(op_id, summary)
        self.summary_writes += 1


def test_a_batch_writes_one_summary_per_operation():
    op = operation(200, 10)
    store = CountingStore()
    run_batches(op.records(), store, [100])
    assert store.summary_writes == 3  # 202 records (start, 200 hosts, end) in batches of 100
    assert only_summary(store)["hosts_reported"] == 200


@settings(max_examples=150, deadline=None)
@given(data=st.data(), sizes=batch_sizes, replay_sizes=batch_sizes)
def test_crash_anywhere_with_held_progress_then_redelivery_gives_exact_counts(
    data: st.DataObject, sizes: list[int], replay_sizes: list[int]
):
    """R5 under crashes: held entries, their resolution by the start and the markers of the
    hosts it counted are cut anywhere; redelivery still counts every host once."""
    crash_then_redeliver(
        data,
        lambda records, store, first: run_batches(records, store, sizes, first),
        lambda records, store, first: run_batches(records, store, replay_sizes, first),
        held_first=True,
    )
