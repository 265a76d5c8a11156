"""An EventSource fed from lists, so the CLI and runner are tested without Kafka."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from precache.watch.events import Event
from precache.watch.settings import WatchSettings
from tests.support.watch_events import decoded


class FakeSource:
    def __init__(self, backlog: list[dict[str, Any]], live: list[dict[str, Any]]) -> None:
        self._backlog = [decoded(e) for e in backlog]
        self._live = [decoded(e) for e in live]
        self.rewound: list[datetime | None] = []

    async def backlog(self) -> list[Event]:
        return self._backlog

    async def poll(self) -> list[Event]:
        """Two events per poll, then nothing (after a short wait) for ever."""
        if not self._live:
            await asyncio.sleep(0.01)
            return []
        batch, self._live = self._live[:2], self._live[2:]
        return batch

    async def drain_failures(self) -> list[Event]:
        return []

    async def rewind_failures(self, since: datetime | None) -> None:
        self.rewound.append(since)


def factory(source: FakeSource) -> Any:
    @asynccontextmanager
    async def open_source(settings: WatchSettings) -> AsyncIterator[FakeSource]:
        yield source

    return open_source
