"""Plain lines, as Nova's announcement printed them; for logs, pipes and CI.

Progress lines are sparse: one when the operation is picked up (if already past 25%), one
each time it crosses 25%, 50%, 75%, and always the final one. Anything that is not part of
the announcement's format (waiting) goes to stderr, so stdout can be compared as it is.
"""

from typing import TextIO

from precache.watch.escape import printable
from precache.watch.events import OperationData
from precache.watch.follow import Completed, Filters, Progressed, Stalled, Started, Update
from precache.watch.render import describe
from precache.watch.summary import Summary, progress_line, started_line


class PlainRenderer:
    def __init__(self, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err
        self._quarter = 0
        self._last = ""

    def waiting(self, filters: Filters) -> None:
        self._print(f"Waiting for an image cache operation{describe(filters)}", self._err)

    def update(self, update: Update) -> None:
        match update:
            case Started(snapshot=s):
                self._print(started_line(s))
                self._progress(s)
            case Progressed(snapshot=s):
                self._progress(s)
            case Stalled(snapshot=s):
                self._print(f"Stalled: {progress_line(s)}")
            case Completed(snapshot=s):
                self._final(s)

    def finished(self, summary: Summary) -> None:
        for line in summary.lines():
            self._print(line)

    def gave_up(self, reason: str) -> None:
        self._print(reason)

    def close(self) -> None:
        self._out.flush()

    def _progress(self, snapshot: OperationData) -> None:
        quarter = min(4, int(snapshot.percent) // 25)
        if quarter > self._quarter:
            self._quarter = quarter
            self._emit(progress_line(snapshot))

    def _final(self, snapshot: OperationData) -> None:
        line = progress_line(snapshot)
        if line != self._last:
            self._emit(line)

    def _emit(self, line: str) -> None:
        self._last = line
        self._print(line)

    def _print(self, line: str, stream: TextIO | None = None) -> None:
        print(printable(line), file=stream or self._out, flush=True)
