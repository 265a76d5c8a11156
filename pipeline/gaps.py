"""Guard against input records faust skips around a rebalance.

Observed in our two-worker fault test, and reported upstream (faust-streaming#216, #221, #236):
right after a rebalance the stream can deliver a record past the committed offset first; faust
then drops the lower offsets it fetches again ("DROPPED MESSAGE ROFF") and may commit past them,
so records are lost silently. Seeking back does not help (faust's read offset moves on with the
batch in hand), so the guard reads the skipped range itself with a plain consumer and the agent
applies those records first. Our state is idempotent, so reading a record twice is harmless.

The worker's consumer drops other traffic before faust sees it (:mod:`pipeline.kafka_transport`):
a run of such records right before a delivered one is no gap (``Skipped`` tells where the run
began); anything else is read directly as before.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

Fetch = Callable[[int, int, int], Awaitable[list[Any]]]  # (partition, start, end) -> records
Committed = Callable[[], Awaitable[dict[int, int]]]  # partition -> committed offset
Skipped = Callable[[int, int], int | None]  # (partition, offset) -> first of the skips before


def nothing_skipped(partition: int, offset: int) -> int | None:
    return None


class GapGuard:
    def __init__(
        self, fetch: Fetch, committed: Committed, skipped: Skipped = nothing_skipped
    ) -> None:
        self._fetch = fetch
        self._committed = committed
        self._skipped = skipped
        self._expect: dict[int, int] | None = None
        self.checked = 0  # raw records observed: shows the guard is on the path
        self.filled = 0  # skipped records it read itself

    def reset(self) -> None:
        """Partitions moved: the next record of each partition is checked against the group's
        committed offset."""
        self._expect = None

    async def observe(self, partition: int, offset: int) -> list[Any]:
        """Call before processing each raw record; returns skipped records to apply first."""
        self.checked += 1
        if self._expect is None:
            self._expect = dict(await self._committed())
        expect = self._expect.get(partition)
        self._expect[partition] = max(offset + 1, expect or 0)
        first_skipped = self._skipped(partition, offset)
        if expect is None or offset <= expect:
            return []
        if first_skipped is not None and first_skipped <= expect:
            return []  # the consumer read and skipped what lies between
        records = await self._fetch(partition, expect, offset)
        self.filled += len(records)
        log.warning(
            "records skipped by the consumer; read them directly",
            partition=partition,
            expected=expect,
            got=offset,
            read=len(records),
        )
        return records
