"""One watch from start to exit status: reads through a source, decides with the tracker,
shows through a renderer.

Stall policy: without ``--timeout`` a stall ends the watch (exit 2) at once, since nothing
else bounds the wait; with ``--timeout`` the stall is shown and the watcher keeps waiting, as
the operation may resume, until it completes or the timeout expires (exit 2).
"""

import asyncio
import subprocess
from dataclasses import dataclass, field
from datetime import timedelta
from enum import IntEnum

from precache.contract import parse_time
from precache.watch.follow import Completed, Filters, Stalled, Started, Update
from precache.watch.render import Renderer
from precache.watch.settings import WatchSettings
from precache.watch.source import EventSource, SourceFactory
from precache.watch.summary import summarize
from precache.watch.tracker import Tracker


class WatchResult(IntEnum):
    """The exit statuses of ``precache watch`` (3, bad arguments or no Kafka, is the CLI's)."""

    SUCCEEDED = 0
    HOSTS_FAILED = 1
    NOT_COMPLETED = 2


@dataclass(frozen=True)
class WatchOptions:
    """What to watch: changes with every call, so options rather than settings."""

    filters: Filters = field(default_factory=Filters)
    timeout_s: float | None = None


async def run_watch(
    settings: WatchSettings, options: WatchOptions, open_source: SourceFactory, renderer: Renderer
) -> WatchResult:
    loop = asyncio.get_running_loop()
    deadline = None if options.timeout_s is None else loop.time() + options.timeout_s
    try:
        async with open_source(settings) as source:
            return await _Watch(settings, options, source, renderer).run(deadline)
    finally:
        renderer.close()


class _Watch:
    def __init__(
        self,
        settings: WatchSettings,
        options: WatchOptions,
        source: EventSource,
        renderer: Renderer,
    ) -> None:
        self._settings = settings
        self._options = options
        self._source = source
        self._renderer = renderer
        self._tracker = Tracker(options.filters)

    async def run(self, deadline: float | None) -> WatchResult:
        scope = asyncio.timeout_at(deadline)
        try:
            async with scope:
                ended = await self._until_completed()
        except TimeoutError:
            if not scope.expired():
                raise
            self._renderer.gave_up(self._timeout_reason())
            return WatchResult.NOT_COMPLETED
        if ended is not None:
            return ended
        await self._drain_failures()
        await self._collect_failures()
        return self._finish()

    async def _until_completed(self) -> WatchResult | None:
        """None once the followed operation completed; a result when the watch gives up."""
        backlog = await self._source.backlog()
        # said once the status topic was read: an operation starting from now on is followed
        self._renderer.waiting(self._options.filters)
        ended = await self._apply(self._tracker.start(backlog))
        while ended is None and self._tracker.completed is None:
            for event in await self._source.poll():  # the whole batch: it may name failed hosts
                ended = await self._apply(self._tracker.feed(event))
                if ended is not None:
                    break
        return ended

    async def _apply(self, updates: list[Update]) -> WatchResult | None:
        for update in updates:
            self._renderer.update(update)
            if isinstance(update, Started):
                await self._rewind(update)
            if isinstance(update, Stalled) and self._options.timeout_s is None:
                self._renderer.gave_up("Gave up: the operation stalled (use --timeout to wait)")
                return WatchResult.NOT_COMPLETED
            if isinstance(update, Completed):
                return None
        return None

    async def _rewind(self, update: Started) -> None:
        started = parse_time(update.snapshot.started_at)
        lookback = timedelta(seconds=self._settings.failures_lookback_s)
        await self._source.rewind_failures(started - lookback)

    async def _drain_failures(self) -> None:
        """host.failed events written before the completion, read after it (--json shows them;
        the error list may need them)."""
        try:
            async with asyncio.timeout(self._settings.failures_wait_s):
                for event in await self._source.drain_failures():
                    for update in self._tracker.feed(event):
                        self._renderer.update(update)
        except TimeoutError:
            return

    async def _collect_failures(self) -> None:
        """A truncated failed_hosts list is completed from host.failed events, which may
        arrive after the completion: wait for them a little while."""
        try:
            async with asyncio.timeout(self._settings.failures_wait_s):
                while self._tracker.unnamed_failures():
                    for event in await self._source.poll():
                        for update in self._tracker.feed(event):
                            self._renderer.update(update)
        except TimeoutError:
            return

    def _finish(self) -> WatchResult:
        completed = self._tracker.completed
        assert completed is not None
        tracker = self._tracker
        summary = summarize(completed, tracker.error_hosts(), tracker.unnamed_failures())
        self._renderer.finished(summary)
        return WatchResult.SUCCEEDED if summary.succeeded else WatchResult.HOSTS_FAILED

    def _timeout_reason(self) -> str:
        after = f"Timed out after {self._options.timeout_s:g}s"
        latest = self._tracker.latest
        if latest is None:
            return f"{after}: no matching image cache operation started"
        return (
            f"{after}: {latest.hosts_reported} of {latest.hosts_total} hosts reported "
            f"({latest.hosts_failed} errors)"
        )


def follow(
    settings: WatchSettings,
    options: WatchOptions,
    open_source: SourceFactory,
    renderer: Renderer,
    then: str | None = None,
) -> int:
    """One watch to its exit status, shared by ``precache watch`` and ``precache cache``: the
    watch's result, or ``--then``'s own status when every host succeeded."""
    result = asyncio.run(run_watch(settings, options, open_source, renderer))
    if result is WatchResult.SUCCEEDED and then:
        return run_then(then)
    return int(result)


def run_then(command: str) -> int:
    """Runs ``--then`` through the shell, as the user typed it; its status becomes ours."""
    status = subprocess.run(command, shell=True, check=False).returncode
    return status if status >= 0 else 128 - status
