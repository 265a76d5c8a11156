"""The lines Nova's announcement printed, built from a snapshot: shared by every renderer."""

from dataclasses import dataclass

from precache.watch.events import OperationData
from precache.watch.naming import format_duration, natural_sorted


def aggregate_label(snapshot: OperationData) -> str:
    agg = snapshot.aggregate
    return agg.name or agg.uuid or "?"


def started_line(snapshot: OperationData) -> str:
    return f"Image cache started on {snapshot.hosts_total} hosts"


def progress_line(snapshot: OperationData) -> str:
    return (
        f"Aggregate '{aggregate_label(snapshot)}' host {snapshot.hosts_reported}: "
        f"{int(snapshot.percent)}% complete ({snapshot.hosts_failed} errors)"
    )


@dataclass(frozen=True)
class Summary:
    """A completed operation as the watcher reports it; ``error_hosts`` in natural order."""

    snapshot: OperationData
    error_hosts: list[str]
    unnamed_errors: int

    @property
    def succeeded(self) -> bool:
        s = self.snapshot
        return s.hosts_failed == 0 and s.outcome in (None, "succeeded")

    def lines(self) -> list[str]:
        s = self.snapshot
        out = [
            f"Completed {s.hosts_total} hosts, {s.hosts_failed} errors "
            f"in {format_duration(s.duration_s)}"
        ]
        if self.error_hosts or self.unnamed_errors:
            out += ["Errors from hosts:", *self.error_hosts]
        if self.unnamed_errors:
            out.append(f"... and {self.unnamed_errors} more hosts no event named")
        out += [f"Image {image} failed {n} times" for image, n in image_failures(s)]
        return out


def summarize(snapshot: OperationData, error_hosts: set[str], unnamed_errors: int) -> Summary:
    return Summary(snapshot, natural_sorted(error_hosts), unnamed_errors)


def image_failures(snapshot: OperationData) -> list[tuple[str, int]]:
    """Failures per image, in the operation's image order, then any other image by id."""
    counts = snapshot.image_failures
    order = [i for i in snapshot.images if i in counts]
    order += sorted(set(counts) - set(order))
    return [(image, counts[image]) for image in order if counts[image] > 0]
