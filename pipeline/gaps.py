"""Guard against input records faust skips around a rebalance.

Observed in our two-worker fault test (and reported as faust-streaming#216, #221, #236): right
after a rebalance the stream can deliver a record past the committed offset first, after which
faust drops the lower offsets it fetches again ("DROPPED MESSAGE ROFF"), so records are lost
silently. Our state is idempotent, so the cure is cheap: know the next offset each raw partition
must deliver (initially the group's committed offset), and when a record jumps past it, seek the
partition back once and read the skipped range again.
"""

from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

Seek = Callable[[int, int], Awaitable[None]]  # (partition, offset)
Committed = Callable[[], Awaitable[dict[int, int]]]  # partition -> committed offset


class GapGuard:
    def __init__(self, seek: Seek, committed: Committed) -> None:
        self._seek = seek
        self._committed = committed
        self._expect: dict[int, int] | None = None
        self._sought: set[tuple[int, int]] = set()
        self.seeks = 0

    def reset(self) -> None:
        """Partitions moved: start again from the committed offsets."""
        self._expect = None
        self._sought.clear()

    async def observe(self, partition: int, offset: int) -> None:
        """Call before processing each raw record; seeks back when records were skipped."""
        if self._expect is None:
            self._expect = dict(await self._committed())
        expect = self._expect.get(partition)
        if expect is not None and offset > expect and (partition, expect) not in self._sought:
            self._sought.add((partition, expect))
            self.seeks += 1
            log.warning(
                "records skipped; reading them again",
                partition=partition,
                expected=expect,
                got=offset,
            )
            await self._seek(partition, expect)
            return
        self._expect[partition] = max(offset + 1, expect or 0)
