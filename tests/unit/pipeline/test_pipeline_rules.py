"""Rules R1-R9 (docs/pipeline-rules.md) on plausible but wrong input: issue 9, item 5.

Notifications are built directly (canonical timestamps), so these test the rules alone."""

from typing import Any, cast

import orjson

from precache.pipeline import engine, events, operation
from precache.pipeline.notifications import Aggregate, End, Notification, Progress, Start
from precache.pipeline.operation import HELD, HeldEntry, Limits, Step, Summary, duration_s
from tests.support.dict_store import DictStore
from tests.support.schemas import validate

LIMITS = Limits(grace_period_s=5, stall_after_s=60)
AGG = Aggregate(uuid="agg-1", name="app", id=2)
REQ = "req-11111111-2222-3333-4444-555555555555"


def at(ms: int) -> str:
    return f"2026-11-23T19:04:24.{ms * 1000:06d}Z"


def common(ms: int, agg: Aggregate = AGG, request_id: str | None = REQ, **kw: Any) -> Any:
    return {
        "region": "r",
        "request_id": request_id,
        "aggregate": agg,
        "timestamp": at(ms),
        "message_id": None,
        **kw,
    }


def start(hosts: list[str], ms: int = 0, **kw: Any) -> Start:
    return Start(kind="start", hosts=tuple(hosts), **common(ms, **kw))


def end(hosts: list[str], ms: int = 900, **kw: Any) -> End:
    return End(kind="end", hosts=tuple(hosts), **common(ms, **kw))


def progress(host: str, total: int, ms: int = 100, failed: bool = False, **kw: Any) -> Progress:
    return Progress(
        kind="progress",
        host=host,
        total=total,
        index=None,
        images_cached=() if failed else ("img",),
        images_failed=("img",) if failed else (),
        **common(ms, **kw),
    )


class Run:
    """Notifications through the engine as the worker applies them; steps kept."""

    def __init__(self) -> None:
        self.store = DictStore()
        self.steps: list[Step] = []
        self.offset = 0

    def __call__(self, *ns: Notification, now: float = 0.0) -> list[Step]:
        out = []
        for n in ns:
            step = engine.process(n, self.offset, 0, now, self.store, LIMITS)
            engine.commit(step, self.store)
            out.append(step)
            self.offset += 1
        self.steps += out
        return out

    def tick(self, now: float) -> list[Step]:
        steps = engine.tick(0, now, self.store, LIMITS)
        for step in steps:
            engine.commit(step, self.store)
        self.steps += steps
        return steps

    def summary(self, agg: Aggregate = AGG) -> Summary:
        return self.store.summary[f"r/{agg.uuid}/{REQ}"]

    def kinds(self) -> list[str]:
        return [e.kind for s in self.steps for e in s.effects]

    def events(self) -> list[dict[str, Any]]:
        """Every event the steps produce, as the worker builds them (schema-checked)."""
        out = []
        for step in self.steps:
            summary = step.summary or self.store.summary.get(step.op_id)
            for effect in step.effects:
                assert summary is not None
                event = orjson.loads(events.encode(summary, effect, LIMITS))
                validate(event)
                out.append(event)
        return out


def rejects(steps: list[Step]) -> list[str | None]:
    return [s.reject[0] if s.reject else None for s in steps]


def test_operation_id_is_region_aggregate_request():
    run = Run()
    run(start(["a"]))
    assert list(run.store.summary) == [f"r/agg-1/{REQ}"]


def test_progress_host_not_in_the_start_list_is_dead_lettered_never_counted():
    run = Run()
    steps = run(start(["a", "b"]), progress("a", 2), progress("intruder", 2), end(["a", "b"]))
    assert rejects(steps) == [None, None, "host_not_in_operation", None]
    assert run.summary()["state"] == "running"  # b never reported: not succeeded
    run.tick(10.0)
    s = run.summary()
    assert (s["hosts_reported"], s["hosts_failed"], s["outcome"]) == (1, 1, "partial")
    assert s["missing_hosts"] == ["b"]


def test_a_start_list_with_a_repeated_host_counts_it_once_no_phantom_failure():
    run = Run()
    run(start(["a", "b", "a"]), progress("a", 2), progress("b", 2))
    s = run.summary()
    assert (s["hosts_total"], s["state"], s["outcome"]) == (2, "completed", "succeeded")


def test_distinct_start_list_is_the_truth_a_later_differing_list_is_ignored():
    run = Run()
    steps = run(start(["a", "b"]), end(["a", "b", "c"]))
    assert steps[1].note is not None
    assert "ignored" in steps[1].note
    assert run.summary()["hosts_total"] == 2
    run.tick(10.0)
    assert run.summary()["missing_hosts"] == ["a", "b"]


def test_total_above_or_below_the_list_is_dead_lettered():
    run = Run()
    steps = run(start(["a", "b"]), progress("a", 3), progress("b", 1), progress("a", 2))
    assert rejects(steps) == [None, "total_mismatch", "total_mismatch", None]
    s = run.summary()
    assert (s["hosts_reported"], s["hosts_failed"], s["state"]) == (1, 0, "running")


def test_a_counted_hosts_copy_with_another_total_is_a_total_mismatch_not_a_duplicate():
    """R4's order (list, total, then duplicate) live as for held progress, and as the audit's
    reference replays it; once the operation completed it is R7 (ignored)."""
    run = Run()
    steps = run(start(["a", "b"]), progress("a", 2), progress("a", 3), progress("a", 2))
    assert rejects(steps) == [None, None, "total_mismatch", None]
    held = Run()
    held(progress("a", 2), progress("a", 3))
    (step,) = held(start(["a", "b"]))
    assert [d.reason for d in step.dead] == ["total_mismatch"]
    steps = run(progress("b", 2), progress("a", 3))
    assert rejects(steps) == [None, None]
    assert steps[1].summary is None  # no effect: a duplicate of a counted host
    assert run.summary()["outcome"] == "succeeded"


def test_total_below_before_the_start_never_completes_early():
    run = Run()
    run(progress("a", 1, ms=1))  # total 1, alone: the old rules completed it here
    assert run.summary()["state"] == "running"
    assert run.summary()["hosts_reported"] == 0
    (step,) = run(start(["a", "b"]))
    assert [d.reason for d in step.dead] == ["total_mismatch"]
    assert run.summary()["hosts_reported"] == 0


def test_total_of_10_to_the_12_with_two_hosts_is_rejected_no_phantom_failures():
    run = Run()
    steps = run(start(["a", "b"]), progress("a", 10**12), progress("a", 2), progress("b", 2))
    assert rejects(steps) == [None, "total_mismatch", None, None]
    s = run.summary()
    assert (s["hosts_failed"], s["outcome"]) == (0, "succeeded")


def test_lone_end_without_hosts_is_dead_lettered_and_creates_nothing():
    run = Run()
    (step,) = run(end([]))
    assert rejects([step]) == ["no_hosts"]
    assert run.store.summary == {}
    (step,) = run(start([]))
    assert rejects([step]) == ["no_hosts"]


def test_one_request_id_on_two_aggregates_is_two_exact_operations():
    other = Aggregate(uuid="agg-2", name="other", id=3)
    run = Run()
    run(
        start(["a", "b"]),
        start(["x", "y"], agg=other),
        progress("a", 2),
        progress("x", 2, failed=True, agg=other),
        progress("b", 2),
        progress("y", 2, agg=other),
    )
    one, two = run.summary(), run.summary(other)
    assert (one["hosts_failed"], one["outcome"]) == (0, "succeeded")
    assert (two["hosts_failed"], two["outcome"], two["failed_hosts"]) == (1, "partial", ["x"])
    completed = [s.op_id for s in run.steps for e in s.effects if e.kind == "completed"]
    assert sorted(completed) == [f"r/agg-1/{REQ}", f"r/agg-2/{REQ}"]


def test_duration_is_first_to_last_in_time_order_never_negative():
    run = Run()
    run(start(["a"], ms=500), progress("a", 1, ms=0))  # progress stamped before the start
    s = run.summary()
    assert (s["first_at"], s["updated_at"]) == (at(0), at(500))
    assert duration_s(s) == 0.5
    reversed_times = s.copy()
    reversed_times["first_at"], reversed_times["updated_at"] = at(900), at(0)
    assert duration_s(reversed_times) == 0.0


def test_progress_before_any_list_is_held_then_resolved_in_order():
    run = Run()
    run(progress("a", 3, failed=True), progress("zz", 3), progress("a", 3), progress("b", 2))
    s = run.summary()
    assert (s["hosts_reported"], s["hosts_held"], s["hosts_total"]) == (0, 4, None)
    assert run.kinds() == ["status"] * 4  # nothing counted, no failure reported yet
    (step,) = run(start(["a", "b", "c"]))
    assert [(cast(HeldEntry, d.entry)["host"], d.reason) for d in step.dead] == [
        ("zz", "host_not_in_operation"),
        ("b", "total_mismatch"),
    ]
    s = run.summary()
    assert (s["hosts_reported"], s["hosts_failed"], s["hosts_held"]) == (1, 1, 0)
    assert [e.kind for e in step.effects] == ["host_failed", "status"]
    run(progress("b", 3), progress("c", 3))
    assert run.summary()["outcome"] == "partial"
    assert run.kinds().count("completed") == 1


def test_a_held_progress_redelivered_is_held_once():
    run = Run()
    n = progress("a", 1)
    first = engine.process(n, 7, 0, 0.0, run.store, LIMITS)
    engine.commit(first, run.store)
    again = engine.process(n, 7, 0, 0.0, run.store, LIMITS)
    assert again.summary is None
    assert run.store.summary[first.op_id]["hosts_held"] == 1
    assert (first.op_id, f"{HELD}7") in run.store.markers


def test_completion_needs_a_list_and_end_alone_gives_it():
    run = Run()
    run(progress("a", 1))
    assert run.tick(1000.0)[0].effects[0].kind == "stalled"  # never completed without a list
    run(end(["a"]))
    s = run.summary()
    assert (s["state"], s["outcome"], s["hosts_total"]) == ("completed", "succeeded", 1)


def test_input_for_a_completed_operation_is_ignored_not_dead_lettered():
    run = Run()
    run(start(["a"]), progress("a", 1))
    steps = run(progress("b", 1), start(["a"]), end(["a"]))
    assert rejects(steps) == [None, None, None]
    assert all(s.ignored for s in steps)
    assert run.kinds().count("completed") == 1


def test_global_request_id_travels_in_the_summary_and_every_event():
    run = Run()
    run(
        start(["a", "b"], global_request_id="req-99999999-0000-0000-0000-000000000000"),
        progress("a", 2, failed=True),
        progress("b", 2),
    )
    built = run.events()
    assert {e["type"] for e in built} >= {
        "precache.operation.status",
        "precache.host.failed",
        "precache.operation.completed",
    }
    assert {e["data"]["global_request_id"] for e in built} == {
        "req-99999999-0000-0000-0000-000000000000"
    }
    plain = Run()
    plain(start(["a"]), progress("a", 1))
    assert {e["data"]["global_request_id"] for e in plain.events()} == {None}


def test_a_silent_host_named_with_5000_digits_completes_and_later_records_apply():
    """Issue 9, item 2: this crashed every tick (int() of 5,000 digits in the natural sort)."""
    huge = "9" * 5000
    run = Run()
    run(start(["a", huge]), progress("a", 2), end(["a", huge]))
    (step,) = run.tick(10.0)
    assert step.reject is None
    s = run.summary()
    assert (s["state"], s["missing_hosts"], s["hosts_failed"]) == ("completed", [huge], 1)
    other = Aggregate(uuid="agg-2", name=None, id=None)
    run(start(["b"], agg=other), progress("b", 1, agg=other))
    assert run.summary(other)["outcome"] == "succeeded"


def test_an_operation_whose_timer_rules_raise_is_quarantined_once_the_others_go_on(
    monkeypatch: Any,
) -> None:
    other = Aggregate(uuid="agg-2", name=None, id=None)
    run = Run()
    run(start(["a", "b"]), end(["a", "b"]), start(["x", "y"], agg=other), end(["x"], agg=other))
    real = operation.tick

    def tick(summary: Summary, *a: Any) -> Any:
        if summary["aggregate"]["uuid"] == "agg-1":
            raise ValueError("poison")
        return real(summary, *a)

    monkeypatch.setattr(operation, "tick", tick)
    steps = run.tick(10.0)
    assert sorted(rejects(steps), key=str) == [None, "tick_error"]
    assert run.summary(other)["state"] == "completed"
    assert "poison" in run.summary()["quarantined"]
    assert run.tick(20.0) == []  # never again: no crash loop
    (late,) = run(progress("a", 2))
    assert late.reject is None
    assert run.summary()["hosts_reported"] == 1
