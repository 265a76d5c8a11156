"""Which operation is followed, and what each event means for it (pure, no Kafka)."""

from datetime import timedelta

from precache.watch.events import OperationData
from precache.watch.follow import (
    Completed,
    Filters,
    HostFailed,
    Progressed,
    Stalled,
    Started,
    choose_first,
)
from precache.watch.tracker import Tracker
from tests.support.watch_events import (
    T0,
    completed,
    decoded,
    host_failed,
    operation_id,
    snapshot,
    stalled,
    status,
)

OTHER_AGG = {"uuid": "0f0f0f0f-0000-4000-8000-000000000000", "name": "other", "id": 3}


def snap(**kw) -> OperationData:
    return OperationData.model_validate(snapshot(**kw))


def test_filters_match_aggregate_by_name_or_uuid_and_region() -> None:
    s = snap()
    assert Filters().matches(s)
    assert Filters(aggregate="my-application").matches(s)
    assert Filters(aggregate="CF6AA111-CADE-4477-A185-A5C869BC3954").matches(s)
    assert Filters(aggregate="my-application", region="RegionOne").matches(s)
    assert not Filters(aggregate="other").matches(s)
    assert not Filters(region="RegionTwo").matches(s)


def test_first_is_the_running_operation_that_started_first() -> None:
    early = snap(request_id="b", started_at=T0)
    late = snap(request_id="a", started_at=T0 + timedelta(minutes=1))
    done = snap(request_id="c", state="completed", started_at=T0 - timedelta(hours=1))
    stuck = snap(request_id="d", state="stalled", started_at=T0 - timedelta(hours=2))
    assert choose_first([late, done, early, stuck], Filters()) == early
    assert choose_first([done, stuck], Filters()) is None
    other = snap(request_id="e", aggregate=OTHER_AGG, started_at=T0 - timedelta(hours=3))
    assert choose_first([other, late], Filters(aggregate="my-application")) == late


def test_backlog_running_operation_is_followed_from_its_latest_snapshot() -> None:
    tracker = Tracker(Filters())
    updates = tracker.start([decoded(status(reported=10)), decoded(status(reported=57))])
    assert [type(u) for u in updates] == [Started]
    assert tracker.latest is not None
    assert tracker.latest.hosts_reported == 57


def test_completed_before_start_is_never_followed() -> None:
    tracker = Tracker(Filters())
    old = completed(request_id="old", reported=95, duration_s=10)
    assert tracker.start([decoded(status(request_id="old")), decoded(old)]) == []
    # a redelivered completion of the old operation does not end the new watch
    assert tracker.feed(decoded(old)) == []
    assert tracker.feed(decoded(status(request_id="old", reported=3))) == []
    assert tracker.followed is None
    assert [type(u) for u in tracker.feed(decoded(status(request_id="new")))] == [Started]


def test_a_stall_never_starts_a_follow_but_a_resume_does() -> None:
    tracker = Tracker(Filters())
    assert tracker.start([decoded(status(reported=5, state="stalled"))]) == []
    assert tracker.feed(decoded(stalled(reported=5))) == []
    assert [type(u) for u in tracker.feed(decoded(status(reported=6)))] == [Started]


def test_live_events_follow_the_first_matching_operation_only() -> None:
    tracker = Tracker(Filters(aggregate="my-application"))
    tracker.start([])
    assert tracker.feed(decoded(status(request_id="x", aggregate=OTHER_AGG))) == []
    assert [type(u) for u in tracker.feed(decoded(status(request_id="a")))] == [Started]
    assert tracker.feed(decoded(status(request_id="b"))) == []
    assert tracker.feed(decoded(host_failed("h1", request_id="b"))) == []
    assert [type(u) for u in tracker.feed(decoded(status(request_id="a", reported=1)))] == [
        Progressed
    ]
    assert tracker.followed == operation_id("a")


def test_host_failures_read_before_the_follow_are_reported_with_the_start() -> None:
    tracker = Tracker(Filters())
    tracker.start([])
    assert tracker.feed(decoded(host_failed("guaranine3"))) == []
    updates = tracker.feed(decoded(status(reported=4, failed_hosts=["guaranine3"])))
    assert [type(u) for u in updates] == [Started, HostFailed]


def test_duplicates_are_dropped() -> None:
    tracker = Tracker(Filters())
    tracker.start([])
    tracker.feed(decoded(status()))
    assert len(tracker.feed(decoded(status(reported=1)))) == 1
    assert tracker.feed(decoded(status(reported=1))) == []
    assert len(tracker.feed(decoded(host_failed("h7")))) == 1
    assert tracker.feed(decoded(host_failed("h7"))) == []


def test_stall_is_reported_once_until_progress_resumes() -> None:
    tracker = Tracker(Filters())
    tracker.start([decoded(status(reported=5))])
    assert [type(u) for u in tracker.feed(decoded(stalled(reported=5)))] == [Stalled]
    stalled_status = status(reported=5, state="stalled")
    assert [type(u) for u in tracker.feed(decoded(stalled_status))] == [Progressed]
    assert [type(u) for u in tracker.feed(decoded(status(reported=6)))] == [Progressed]
    assert [type(u) for u in tracker.feed(decoded(stalled(reported=6)))] == [Stalled]


def test_truncated_failed_hosts_are_completed_from_host_failed_events() -> None:
    tracker = Tracker(Filters())
    tracker.start([decoded(status(reported=1))])
    final = completed(reported=4, failed_hosts=["h1"], truncated=True, hosts_failed=3, total=4)
    assert [type(u) for u in tracker.feed(decoded(final))] == [Completed]
    assert tracker.unnamed_failures() == 2
    tracker.feed(decoded(host_failed("h1")))
    tracker.feed(decoded(host_failed("h10")))
    assert tracker.unnamed_failures() == 1
    tracker.feed(decoded(host_failed("h2", reason="no_report")))
    assert tracker.unnamed_failures() == 0
    assert tracker.error_hosts() == {"h1", "h2", "h10"}


def test_snapshots_after_completion_are_ignored() -> None:
    tracker = Tracker(Filters())
    tracker.start([])
    tracker.feed(decoded(status(reported=1)))
    tracker.feed(decoded(completed(reported=95, duration_s=3)))
    assert tracker.feed(decoded(status(reported=95, state="completed", duration_s=3))) == []


def test_host_failures_belong_by_operation_id_not_by_the_filters() -> None:
    tracker = Tracker(Filters(aggregate="my-application", region="RegionOne"))
    tracker.start([decoded(status(reported=1))])
    raw = host_failed("h9")
    raw["data"] = {**raw["data"], "aggregate": {"uuid": "u-9", "name": "other", "id": None}}
    raw["data"]["region"] = "RegionTwo"
    assert [type(u) for u in tracker.feed(decoded(raw))] == [HostFailed]
