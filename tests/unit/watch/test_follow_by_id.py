"""Following one known operation by request id: ``watch --request-id`` and ``precache cache``.

The operation id is never parsed: an operation matches when ``data.request_id`` (Nova's
``x-openstack-request-id``) or ``data.global_request_id`` (the client's) is one of the ids.
"""

from typing import Any

import orjson
from typer.testing import CliRunner, Result

from precache.cli import app, watch_cmd
from precache.watch.events import OperationData
from precache.watch.follow import Completed, Filters, Stalled, Started
from precache.watch.tracker import Tracker
from tests.support.watch_events import (
    ANNOUNCEMENT_OUTPUT,
    announcement,
    completed,
    decoded,
    snapshot,
    stalled,
    status,
)
from tests.support.watch_source import FakeSource, factory

OURS = frozenset({"req-ours"})


def with_global(event: dict[str, Any], global_id: str) -> dict[str, Any]:
    """The field the pipeline adds to every event's data (absent from older pipelines)."""
    return {**event, "data": {**event["data"], "global_request_id": global_id}}


def test_filters_match_nova_request_id_or_global_request_id() -> None:
    ours = OperationData.model_validate(snapshot("req-ours"))
    by_global = OperationData.model_validate({**snapshot("req-nova"), "global_request_id": "req-g"})
    other = OperationData.model_validate(snapshot("req-other"))
    assert Filters(request_ids=OURS).matches(ours)
    assert Filters(request_ids=frozenset({"req-x", "req-g"})).matches(by_global)
    assert not Filters(request_ids=OURS).matches(other)
    assert not Filters(region="elsewhere", request_ids=OURS).matches(ours)


def test_follows_its_own_not_the_one_that_started_first() -> None:
    tracker = Tracker(Filters(aggregate="my-application", request_ids=OURS))
    assert tracker.start([decoded(status("req-first", reported=40))]) == []
    assert tracker.feed(decoded(status("req-first", reported=41))) == []
    [started] = tracker.feed(decoded(status("req-ours", reported=1)))
    assert isinstance(started, Started)
    assert tracker.followed == decoded(status("req-ours")).operation_id
    assert tracker.feed(decoded(completed("req-first", reported=95))) == []
    done = tracker.feed(decoded(completed("req-ours", reported=95)))
    assert [type(u) for u in done] == [Completed]


def test_an_operation_completed_before_the_watch_is_still_followed() -> None:
    tracker = Tracker(Filters(request_ids=OURS))
    updates = tracker.start([decoded(status("req-ours")), decoded(completed("req-ours"))])
    assert [type(u) for u in updates] == [Started, Completed]


def test_a_stalled_operation_is_followed_by_id() -> None:
    tracker = Tracker(Filters(request_ids=OURS))
    assert [type(u) for u in tracker.feed(decoded(stalled("req-ours", reported=3)))] == [
        Started,
        Stalled,
    ]


def watch(*args: str, backlog: list[dict[str, Any]], live: list[dict[str, Any]]) -> Result:
    source = FakeSource(backlog, live)
    return CliRunner().invoke(app, ["watch", *args], obj={watch_cmd.SOURCE_KEY: factory(source)})


def test_watch_request_id_follows_that_operation_to_its_end() -> None:
    theirs = announcement("req-theirs")
    ours = [with_global(e, "req-global") for e in announcement("req-nova")]
    running_first = [status("req-theirs", reported=1)]
    live = [x for pair in zip(theirs, ours, strict=True) for x in pair]

    by_nova = watch("--request-id", "req-nova", backlog=running_first, live=live)
    by_global = watch("--request-id", "req-global", backlog=running_first, live=live)

    for result in (by_nova, by_global):
        assert result.exit_code == 1
        assert result.stdout == ANNOUNCEMENT_OUTPUT
    assert by_nova.stderr == "Waiting for an image cache operation with request id req-nova\n"


def test_watch_request_id_of_a_completed_operation_reports_it() -> None:
    backlog = announcement("req-done")
    result = watch("--request-id", "req-done", "--plain", backlog=backlog, live=[])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "Image cache started on 95 hosts"
    assert result.stdout.splitlines()[-1].startswith("Image ")


def test_json_prints_each_event_once_even_when_it_starts_and_completes_the_follow() -> None:
    backlog = [status("req-done", reported=95), completed("req-done", reported=95)]
    result = watch("--request-id", "req-done", "--json", backlog=backlog, live=[])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert orjson.loads(lines[0])["data"]["state"] == "completed"
