"""What the operator sees: plain lines unwrapped, the live table with every target, JSON lines."""

import io
import json

from rich.console import Console

from precache.cache.nova import Accepted, NovaAggregate
from precache.rollout.nova_side import Resolved
from precache.rollout.planner import Request, TargetKey, TargetState, Verdict, Wanted
from precache.rollout.report import JsonReporter, TextReporter

KEY = TargetKey("eu-1", "web")
TARGET = Resolved(
    Wanted(KEY, "u-1", ("img-1",)), "eu-1", NovaAggregate(3, "web", "u-1", ("h1",)), ("ubuntu",)
)
REQUEST = Request(KEY, "u-1", ("img-1",), ("missing on 3 hosts", "expires in 1h40m on 2 hosts"), 1)


def test_plain_lines_are_never_wrapped() -> None:
    out = io.StringIO()
    reporter = TextReporter(Console(file=out, width=40, highlight=False, soft_wrap=True))
    reporter.requested(TARGET, REQUEST, Accepted("req-1", "req-g"))
    reporter.target(TARGET, Verdict(TargetState.READY))
    lines = out.getvalue().splitlines()
    assert lines == [
        "eu-1/web: requested img-1 (missing on 3 hosts, expires in 1h40m on 2 hosts), "
        "attempt 1, request req-1",
        "eu-1/web: ready",
    ]


def test_the_live_view_shows_every_target_on_one_screen() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    reporter = TextReporter(console, live=True)
    other = Resolved(
        Wanted(TargetKey("us-1", "web"), "u-2", ("img-1",)), "us-1",
        NovaAggregate(4, "web", "u-2", ("h2",)), ("ubuntu",),
    )  # fmt: skip
    reporter.target(TARGET, Verdict(TargetState.IN_FLIGHT, ("missing on 3 hosts",)))
    reporter.target(other, Verdict(TargetState.READY))
    reporter.summary([TARGET, other], {KEY: Verdict(TargetState.READY)}, 0)
    screen = out.getvalue()
    assert "eu-1/web" in screen
    assert "us-1/web" in screen
    assert "missing on 3 hosts" in screen
    assert "exit 0" in screen


def test_json_lines_one_object_per_change() -> None:
    out = io.StringIO()
    reporter = JsonReporter(out)
    reporter.requested(TARGET, REQUEST, Accepted("req-1", "req-g"))
    reporter.target(
        TARGET, Verdict(TargetState.FAILED, ("failed last time on 1 host",), ("img-1",))
    )
    reporter.note("eu-1/web: policy changed since the open rollout series; retries start from 0")
    first, second, note = (json.loads(line) for line in out.getvalue().splitlines())
    assert note["kind"] == "note"
    assert note["message"].startswith("eu-1/web: policy changed")
    assert first["kind"] == "request"
    assert (first["region"], first["aggregate"], first["request_id"]) == ("eu-1", "web", "req-1")
    assert first["reasons"] == list(REQUEST.reasons)
    assert second["kind"] == "target"
    assert (second["state"], second["images"]) == ("failed", ["img-1"])
