"""GapGuard: a record past the expected offset returns the skipped range, read directly."""

from precache.pipeline.gaps import GapGuard


def guard_with(committed_offsets: dict[int, int], calls: list[tuple[int, int, int]]) -> GapGuard:
    async def fetch(partition: int, start: int, end: int) -> list[int]:
        calls.append((partition, start, end))
        return list(range(start, end))

    async def committed() -> dict[int, int]:
        return committed_offsets

    return GapGuard(fetch, committed)


async def test_skipped_range_after_the_committed_offset_is_read_directly():
    calls: list[tuple[int, int, int]] = []
    guard = guard_with({0: 180}, calls)
    assert await guard.observe(0, 204) == list(range(180, 204))
    for offset in (205, 180, 206):  # later, redelivered, later again: no gap
        assert await guard.observe(0, offset) == []
    assert await guard.observe(1, 7) == []  # no committed offset: the first record starts
    assert await guard.observe(1, 9) == [8]
    assert calls == [(0, 180, 204), (1, 8, 9)]
    assert (guard.checked, guard.filled) == (6, 25)


async def test_reset_checks_against_the_committed_offsets_again():
    calls: list[tuple[int, int, int]] = []
    guard = guard_with({0: 10}, calls)
    assert await guard.observe(0, 10) == []
    assert await guard.observe(0, 11) == []
    guard.reset()
    assert await guard.observe(0, 15) == [10, 11, 12, 13, 14]


async def test_a_run_the_consumer_skipped_is_no_gap_but_anything_before_it_is():
    calls: list[tuple[int, int, int]] = []

    async def fetch(partition: int, start: int, end: int) -> list[int]:
        calls.append((partition, start, end))
        return list(range(start, end))

    async def committed() -> dict[int, int]:
        return {0: 0}

    runs = {(0, 50): 1, (0, 90): 70}  # (partition, delivered offset) -> first skipped before

    def skipped(partition: int, offset: int) -> int | None:
        return runs.pop((partition, offset), None)

    guard = GapGuard(fetch, committed, skipped)
    assert await guard.observe(0, 0) == []
    assert await guard.observe(0, 50) == []  # 1..49 read and skipped by the consumer
    assert await guard.observe(0, 90) == list(range(51, 90))  # 51..69 never came
    assert calls == [(0, 51, 90)]
