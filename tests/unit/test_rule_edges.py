"""R3 and R8 edges (docs/pipeline-rules.md, issue 19 item 5): a later list naming other
hosts, and times far from the worker's clock. Pure rules, through the engine."""

from datetime import UTC, datetime, timedelta
from typing import Any

from precache.pipeline import engine
from precache.pipeline.notifications import Aggregate, End, Notification, Progress, Start
from precache.pipeline.operation import UNLISTED_HOSTS, Limits, RawKept, Step, Summary, duration_s
from tests.support.dict_store import DictStore

LIMITS = Limits(grace_period_s=5, stall_after_s=600, clock_skew_s=300)
NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
AGG = Aggregate(uuid="agg-1", name="app", id=2)
OP = "r/agg-1/req-1"


def at(delta: timedelta = timedelta()) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def common(when: timedelta) -> dict[str, Any]:
    return {
        "region": "r",
        "request_id": "req-1",
        "aggregate": AGG,
        "timestamp": at(when),
        "message_id": None,
    }


def start(hosts: list[str], when: timedelta = timedelta()) -> Start:
    return Start(kind="start", hosts=tuple(hosts), **common(when))


def end(hosts: list[str], when: timedelta = timedelta(seconds=9)) -> End:
    return End(kind="end", hosts=tuple(hosts), **common(when))


def progress(host: str, total: int, when: timedelta = timedelta(seconds=1)) -> Progress:
    return Progress(
        kind="progress",
        host=host,
        total=total,
        index=None,
        images_cached=("img",),
        images_failed=(),
        **common(when),
    )


class Run:
    def __init__(self) -> None:
        self.store = DictStore()
        self.offset = 0

    def __call__(self, n: Notification) -> Step:
        raw: RawKept = {"v": f"record {self.offset}", "h": [("region", "r")]}
        step = engine.process(
            n, self.offset, 0, NOW.timestamp(), self.store, LIMITS, lambda: raw.copy()
        )
        engine.commit(step, self.store)
        self.offset += 1
        return step

    def summary(self) -> Summary:
        summary = self.store.get_summary(OP)
        assert summary is not None
        return summary


def test_an_end_naming_hosts_the_start_did_not_is_applied_and_dead_letters_them() -> None:
    run = Run()
    run(start(["h1", "h2"]))
    step = run(end(["h1", "h2", "h3", "h4"]))
    [dead] = step.dead
    assert dead.reason == UNLISTED_HOSTS
    assert "2 host(s)" in dead.error
    assert "'h3', 'h4'" in dead.error
    assert dead.entry == {"o": 1, "v": "record 1", "h": [("region", "r")]}
    summary = run.summary()
    assert summary["hosts_total"] == 2
    assert summary["end_wall"] is not None  # the end still ends the operation (grace)


def test_an_end_after_completion_naming_other_hosts_still_dead_letters_them() -> None:
    run = Run()
    run(start(["h1"]))
    run(progress("h1", 1))
    assert run.summary()["state"] == "completed"
    step = run(end(["h1", "h9"]))
    assert step.ignored
    assert [d.reason for d in step.dead] == [UNLISTED_HOSTS]


def test_an_end_listing_fewer_hosts_or_the_same_ones_dead_letters_nothing() -> None:
    run = Run()
    run(start(["h1", "h2", "h3"]))
    assert run(end(["h1", "h2"])).dead == []
    assert run(end(["h3", "h2", "h1"])).dead == []


def test_the_first_list_of_an_end_before_any_start_is_the_operations() -> None:
    run = Run()
    step = run(end(["h1", "h2"]))
    assert step.dead == []
    assert run.summary()["hosts_total"] == 2


def test_a_time_hours_ahead_is_replaced_by_the_workers_clock_and_the_host_counts() -> None:
    run = Run()
    run(start(["h1", "h2"]))
    step = run(progress("h1", 2, timedelta(hours=3)))
    assert step.note is not None
    assert "ahead of the worker's clock" in step.note
    summary = run.summary()
    assert summary["hosts_reported"] == 1
    assert summary["updated_at"] == at()  # the worker's clock (NOW), not 3 h ahead


def test_a_time_hours_behind_the_operation_is_replaced_by_its_latest_time() -> None:
    run = Run()
    run(start(["h1", "h2", "h3"]))
    run(progress("h1", 3, timedelta(seconds=30)))
    step = run(progress("h2", 3, timedelta(hours=-3)))
    assert step.note is not None
    assert "behind the operation's latest time" in step.note
    run(progress("h3", 3, timedelta(seconds=40)))
    summary = run.summary()
    assert summary["hosts_reported"] == 3
    assert summary["first_at"] == at()
    assert duration_s(summary) == 40.0


def test_a_replayed_backlog_hours_old_is_believed() -> None:
    """Hours behind the worker's clock alone is a backlog, not a wrong clock."""
    run = Run()
    old = timedelta(hours=-5)
    run(start(["h1"], old))
    step = run(progress("h1", 1, old + timedelta(seconds=3)))
    assert step.note is None
    summary = run.summary()
    assert (summary["first_at"], summary["updated_at"]) == (at(old), at(old + timedelta(seconds=3)))


def test_times_within_the_skew_are_kept_as_they_are() -> None:
    run = Run()
    run(start(["h1", "h2"], timedelta(seconds=200)))  # a clock 200 s fast: within 300 s
    run(progress("h1", 2, timedelta(seconds=-50)))  # out of order by 250 s: within 300 s
    summary = run.summary()
    assert summary["first_at"] == at(timedelta(seconds=-50))
    assert summary["updated_at"] == at(timedelta(seconds=200))
