"""On a terminal: a rich live progress bar (hosts done/total, errors), then the summary."""

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from precache.watch.escape import printable
from precache.watch.events import OperationData
from precache.watch.follow import Completed, Filters, Progressed, Stalled, Started, Update
from precache.watch.render import describe
from precache.watch.summary import Summary, aggregate_label


class LiveRenderer:
    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("hosts  {task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._progress.start()
        self._task: TaskID | None = None

    def waiting(self, filters: Filters) -> None:
        text = f"Waiting for an image cache operation{describe(filters)}"
        self._task = self._progress.add_task(_safe(text), total=None, note="")

    def update(self, update: Update) -> None:
        match update:
            case Started(snapshot=s):
                if self._task is not None:
                    self._progress.remove_task(self._task)
                label = _safe(f"Aggregate '{aggregate_label(s)}'")
                self._task = self._progress.add_task(label, total=s.hosts_total or None, note="")
                self._show(s)
            case Progressed(snapshot=s) | Completed(snapshot=s):
                self._show(s)
            case Stalled(snapshot=s):
                self._show(s, "[yellow]stalled[/]  ")

    def finished(self, summary: Summary) -> None:
        self.close()
        for line in summary.lines():
            self._console.print(printable(line), markup=False, highlight=False)

    def gave_up(self, reason: str) -> None:
        self.close()
        self._console.print(printable(reason), markup=False, highlight=False)

    def close(self) -> None:
        self._progress.stop()

    def _show(self, s: OperationData, prefix: str = "") -> None:
        if self._task is None:
            return
        errors = f"[red]{s.hosts_failed} errors[/]" if s.hosts_failed else "0 errors"
        self._progress.update(self._task, completed=s.hosts_reported, note=prefix + errors)


def _safe(text: str) -> str:
    """For a column that renders rich markup: escapes visible, ``[red]`` in a name literal."""
    return escape(printable(text))
