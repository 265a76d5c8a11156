"""The terminal view: a rich progress bar, then the same summary lines as plain mode."""

import io

from rich.console import Console

from precache.watch.events import OperationData
from precache.watch.follow import Completed, Filters, Progressed, Started
from precache.watch.render.live import LiveRenderer
from precache.watch.summary import summarize
from tests.support.watch_events import completed, decoded, status


def test_live_view_shows_hosts_and_errors_then_the_summary() -> None:
    out = io.StringIO()
    renderer = LiveRenderer(Console(file=out, force_terminal=True, width=100))
    renderer.waiting(Filters(aggregate="my-application"))
    first = decoded(status(total=4, reported=2, failed_hosts=["h1"]))
    last = decoded(completed(total=4, reported=4, failed_hosts=["h1"], duration_s=5))
    assert isinstance(first.data, OperationData)
    assert isinstance(last.data, OperationData)
    renderer.update(Started(first, first.data))
    renderer.update(Progressed(first, first.data))
    renderer.update(Completed(last, last.data))
    renderer.finished(summarize(last.data, {"h1"}, 0))
    renderer.close()
    text = out.getvalue()
    assert "Aggregate 'my-application'" in text
    assert "4/4" in text
    assert "1 errors" in text
    assert text.rstrip().endswith(
        "Completed 4 hosts, 1 errors in 5s\nErrors from hosts:\nh1\n"
        "Image c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2 failed 1 times"
    )


def test_live_view_escapes_names_and_never_reads_them_as_markup() -> None:
    out = io.StringIO()
    renderer = LiveRenderer(Console(file=out, force_terminal=True, width=120))
    aggregate = {"uuid": "u-1", "name": "[red]app\x1b[2J\x1b]0;owned\x07", "id": None}
    host = "node\x1b[8m1"
    first = decoded(status(total=2, reported=1, failed_hosts=[host], aggregate=aggregate))
    last = decoded(completed(total=2, reported=2, failed_hosts=[host], aggregate=aggregate))
    assert isinstance(first.data, OperationData)
    assert isinstance(last.data, OperationData)
    renderer.waiting(Filters(aggregate="x\x1b[2Jy"))
    renderer.update(Started(first, first.data))
    renderer.update(Completed(last, last.data))
    renderer.finished(summarize(last.data, {host}, 0))
    renderer.close()
    text = out.getvalue()
    for raw in ("\x1b[2J", "\x1b]0;", "\x07", "\x1b[8m"):
        assert raw not in text
    assert "Aggregate '[red]app\\x1b[2J\\x1b]0;owned\\x07'" in text
    assert "node\\x1b[8m1" in text.splitlines()
