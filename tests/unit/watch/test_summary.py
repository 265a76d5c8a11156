from precache.watch.events import OperationData
from precache.watch.summary import progress_line, started_line, summarize
from tests.support.watch_events import IMAGE, snapshot


def test_lines_of_novas_announcement() -> None:
    failing = [f"guaranine{i}" for i in (9, 2, 3, 4, 5, 6, 7, 8)]
    s = OperationData.model_validate(
        snapshot(reported=95, failed_hosts=failing, state="completed", duration_s=151)
    )
    assert started_line(s) == "Image cache started on 95 hosts"
    assert progress_line(s) == "Aggregate 'my-application' host 95: 100% complete (8 errors)"
    summary = summarize(s, set(failing), 0)
    assert not summary.succeeded
    assert summary.lines() == [
        "Completed 95 hosts, 8 errors in 2m31s",
        "Errors from hosts:",
        *[f"guaranine{i}" for i in range(2, 10)],
        f"Image {IMAGE} failed 8 times",
    ]


def test_success_is_one_line() -> None:
    s = OperationData.model_validate(snapshot(total=3, reported=3, state="completed", duration_s=4))
    summary = summarize(s, set(), 0)
    assert summary.succeeded
    assert summary.lines() == ["Completed 3 hosts, 0 errors in 4s"]


def test_hosts_no_event_named_are_counted() -> None:
    data = snapshot(total=9, reported=9, state="completed", hosts_failed=3, truncated=True)
    s = OperationData.model_validate({**data, "image_failures": {"b-image": 1, IMAGE: 2}})
    lines = summarize(s, {"h1"}, 2).lines()
    assert lines[1:] == [
        "Errors from hosts:",
        "h1",
        "... and 2 more hosts no event named",
        f"Image {IMAGE} failed 2 times",
        "Image b-image failed 1 times",
    ]
