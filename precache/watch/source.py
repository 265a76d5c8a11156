"""What the runner needs from Kafka; the tests feed events through a fake of this."""

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from precache.watch.events import Event
from precache.watch.settings import WatchSettings


class EventSource(Protocol):
    async def backlog(self) -> list[Event]:
        """The status topic from its beginning up to its end when the watcher started."""

    async def poll(self) -> list[Event]:
        """The next events from every derived topic; may be empty after a short wait."""

    async def drain_failures(self) -> list[Event]:
        """host.failed events up to that topic's current end (read after a completion)."""

    async def rewind_failures(self, since: datetime | None) -> None:
        """Re-read host.failed from ``since`` (None: its beginning), for a followed operation
        that began before the watcher."""


class SourceFactory(Protocol):
    def __call__(self, settings: WatchSettings) -> AbstractAsyncContextManager[EventSource]:
        """Connects (or raises BrokerUnreachable) on enter, closes on exit."""
