"""GapGuard: a record past the expected offset makes the partition read the skipped range again."""

from pipeline.gaps import GapGuard


async def test_seeks_back_once_to_the_committed_offset_then_follows():
    seeks: list[tuple[int, int]] = []

    async def seek(partition: int, offset: int) -> None:
        seeks.append((partition, offset))

    async def committed() -> dict[int, int]:
        return {0: 180}

    guard = GapGuard(seek, committed)
    await guard.observe(0, 204)  # 180..203 were skipped by the consumer
    assert seeks == [(0, 180)]
    for offset in range(180, 206):  # read again, then the stream goes on
        await guard.observe(0, offset)
    await guard.observe(0, 204)  # a redelivery is no gap
    assert seeks == [(0, 180)]
    await guard.observe(1, 7)  # no committed offset yet: whatever comes first is the start
    await guard.observe(1, 8)
    assert seeks == [(0, 180)]


async def test_a_real_gap_in_offsets_is_sought_once_only():
    seeks: list[tuple[int, int]] = []

    async def seek(partition: int, offset: int) -> None:
        seeks.append((partition, offset))

    async def committed() -> dict[int, int]:
        return {}

    guard = GapGuard(seek, committed)
    await guard.observe(0, 10)
    await guard.observe(0, 12)  # 11 is a transaction marker, say: it never comes
    await guard.observe(0, 12)
    await guard.observe(0, 13)
    assert seeks == [(0, 11)]
    guard.reset()
    await guard.observe(0, 13)
    assert seeks == [(0, 11)]
