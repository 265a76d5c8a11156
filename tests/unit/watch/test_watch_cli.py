"""``precache watch`` through typer's runner, fed from lists: exit statuses and exact output."""

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from precache.cli import app, watch_cmd
from tests.support.watch_events import (
    ANNOUNCEMENT_OUTPUT,
    announcement,
    completed,
    host_failed,
    stalled,
    status,
)
from tests.support.watch_source import FakeSource, factory


def watch(
    *args: str,
    backlog: list[dict[str, Any]] | None = None,
    live: list[dict[str, Any]] | None = None,
) -> Result:
    source = FakeSource(backlog or [], live or [])
    return CliRunner().invoke(app, ["watch", *args], obj={watch_cmd.SOURCE_KEY: factory(source)})


def test_announcement_output_and_exit_1() -> None:
    result = watch("--aggregate", "my-application", live=announcement())
    assert result.exit_code == 1
    assert result.stdout == ANNOUNCEMENT_OUTPUT
    assert result.stderr == "Waiting for an image cache operation of aggregate 'my-application'\n"


def test_started_mid_operation_follows_the_running_one() -> None:
    backlog = [
        status(request_id="old", total=3, reported=3),
        completed(request_id="old", total=3, reported=3, duration_s=9),
        status(request_id="now", total=10, reported=6, failed_hosts=["h3"]),
    ]
    live = [
        completed(request_id="old", total=3, reported=3, duration_s=9),  # redelivered
        status(request_id="now", total=10, reported=9, failed_hosts=["h3"]),
        completed(request_id="now", total=10, reported=10, failed_hosts=["h3"], duration_s=64),
    ]
    result = watch(backlog=backlog, live=live)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "Image cache started on 10 hosts",
        "Aggregate 'my-application' host 6: 60% complete (1 errors)",
        "Aggregate 'my-application' host 9: 90% complete (1 errors)",
        "Aggregate 'my-application' host 10: 100% complete (1 errors)",
        "Completed 10 hosts, 1 errors in 1m4s",
        "Errors from hosts:",
        "h3",
        "Image c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2 failed 1 times",
    ]


def test_success_exits_0() -> None:
    live = [status(total=2), completed(total=2, reported=2, duration_s=4)]
    result = watch("--region", "RegionOne", live=live)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "Completed 2 hosts, 0 errors in 4s"


def test_then_runs_on_success_and_its_status_is_ours(tmp_path: Path) -> None:
    flag = tmp_path / "rolled-out"
    live = [status(total=2), completed(total=2, reported=2, duration_s=4)]
    result = watch("--then", f"touch {flag}; exit 7", live=live)
    assert flag.exists()
    assert result.exit_code == 7


def test_then_does_not_run_on_failed_hosts(tmp_path: Path) -> None:
    flag = tmp_path / "rolled-out"
    live = [status(total=2), completed(total=2, reported=2, failed_hosts=["h1"])]
    result = watch("--then", f"touch {flag}", live=live)
    assert result.exit_code == 1
    assert not flag.exists()


def test_stall_without_timeout_exits_2_at_once(tmp_path: Path) -> None:
    flag = tmp_path / "rolled-out"
    live = [status(total=4, reported=1), stalled(total=4, reported=1)]
    result = watch("--then", f"touch {flag}", live=live)
    assert result.exit_code == 2
    assert result.stdout.splitlines()[-2:] == [
        "Stalled: Aggregate 'my-application' host 1: 25% complete (0 errors)",
        "Gave up: the operation stalled (use --timeout to wait)",
    ]
    assert not flag.exists()


def test_stall_with_timeout_keeps_waiting_for_the_resume() -> None:
    live = [
        status(total=4, reported=1),
        stalled(total=4, reported=1),
        status(total=4, reported=2),
        completed(total=4, reported=4, duration_s=3),
    ]
    result = watch("--timeout", "30", live=live)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "Completed 4 hosts, 0 errors in 3s"


def test_timeout_while_following_exits_2() -> None:
    live = [status(total=4, reported=3, failed_hosts=["h2"])]
    result = watch("--timeout", "0.3", live=live)
    assert result.exit_code == 2
    assert result.stdout.splitlines()[-1] == (
        "Timed out after 0.3s: 3 of 4 hosts reported (1 errors)"
    )


def test_timeout_with_no_operation_exits_2() -> None:
    backlog = [completed(total=2, reported=2)]
    result = watch("--timeout", "0.2", backlog=backlog)
    assert result.exit_code == 2
    assert result.stdout == "Timed out after 0.2s: no matching image cache operation started\n"


def test_errors_list_is_complete_when_failed_hosts_is_truncated() -> None:
    hosts = [f"node{i}" for i in (12, 3, 1, 7)]
    final = completed(
        total=20,
        reported=20,
        failed_hosts=["node1", "node3"],
        truncated=True,
        hosts_failed=4,
        duration_s=20,
    )
    # two host.failed events arrive after the completion, on their own topic
    live = [status(total=20), host_failed("node1"), final, *[host_failed(h) for h in hosts]]
    result = watch(live=live)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    start = lines.index("Errors from hosts:")
    assert lines[start + 1 : start + 5] == ["node1", "node3", "node7", "node12"]


def test_json_prints_the_followed_operations_events() -> None:
    live = [
        status(total=2),
        status(request_id="other", total=5),
        host_failed("h1"),
        completed(total=2, reported=2, failed_hosts=["h1"], duration_s=1),
    ]
    result = watch("--json", live=live)
    assert result.exit_code == 1
    printed = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert printed == [live[0], live[2], live[3]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "0"], "error: Invalid value for '--timeout'"),
        (["--kafka", "localhost"], "error: --kafka / PRECACHE_KAFKA_BOOTSTRAP: "),
        (["--no-such-option"], "error: No such option: --no-such-option"),
    ],
)
def test_bad_arguments_exit_3_with_one_line(args: list[str], message: str) -> None:
    result = watch(*args)
    assert result.exit_code == 3
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(message)


EVIL_HOST = "evil\x1b[2J\x1b]0;owned\x07host\u202e"
EVIL_IMAGE = "img\x9b31m\U000e0041"  # a C1 CSI and an invisible tag character
EVIL_AGGREGATE = {"uuid": "cf6aa111-cade-4477-a185-a5c869bc3954", "name": "app\x1b[5m", "id": 2}


def evil_operation() -> list[dict[str, Any]]:
    names: dict[str, Any] = {"aggregate": EVIL_AGGREGATE, "images": [EVIL_IMAGE]}
    return [
        status(total=2, reported=1, failed_hosts=[EVIL_HOST], **names),
        host_failed(EVIL_HOST),
        completed(total=2, reported=2, failed_hosts=[EVIL_HOST], duration_s=4, **names),
    ]


def test_plain_output_escapes_control_characters_of_names() -> None:
    result = watch("--plain", "--aggregate", "app\x1b[5m", live=evil_operation())
    assert result.exit_code == 1
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\U000e0041"):
        assert raw not in result.stdout
        assert raw not in result.stderr
    lines = result.stdout.splitlines()
    assert "Aggregate 'app\\x1b[5m' host 2: 100% complete (1 errors)" in lines
    assert "evil\\x1b[2J\\x1b]0;owned\\x07host\\u202e" in lines
    assert "Image img\\x9b31m\\U000e0041 failed 1 times" in lines
    assert result.stderr == "Waiting for an image cache operation of aggregate 'app\\x1b[5m'\n"


def test_json_output_escapes_control_characters_but_keeps_the_values() -> None:
    live = evil_operation()
    result = watch("--json", live=live)
    assert result.exit_code == 1
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\U000e0041"):
        assert raw not in result.stdout
    assert [orjson.loads(line) for line in result.stdout.splitlines()] == live
