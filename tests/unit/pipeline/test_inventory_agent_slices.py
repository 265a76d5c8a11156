"""How the inventory agent cuts a batch (pipeline.inventory_agent.slices): small records share
a slice, a record larger than the budget is a slice of its own, nothing is lost or reordered."""

import time
from types import SimpleNamespace
from typing import Any

from faust.types import Message

from precache.pipeline.inventory_agent import slices


def event(offset: int, size: int) -> Any:
    """What the agent reads of a faust event: ``event.message.value``."""
    message = Message("inv", 0, offset, time.time(), 0, [], b"k", b"x" * size, None)
    return SimpleNamespace(message=message)


def sizes(parts: list[list[Any]]) -> list[list[int]]:
    return [[len(e.message.value) for e in part] for part in parts]


def test_small_records_share_a_slice_and_a_large_one_is_alone() -> None:
    batch = [event(0, 10), event(1, 20), event(2, 500), event(3, 30), event(4, 40), event(5, 0)]
    parts = slices(batch, 100)
    assert sizes(parts) == [[10, 20], [500], [30, 40, 0]]
    assert [e for part in parts for e in part] == batch


def test_every_slice_keeps_within_the_budget_unless_one_record_exceeds_it() -> None:
    batch = [event(n, (n * 37) % 90) for n in range(200)]
    parts = slices(batch, 100)
    assert [e for part in parts for e in part] == batch
    assert all(sum(s) <= 100 for s in sizes(parts))
    # and greedily: the next slice's first record would not have fitted in the previous one
    for before, after in zip(sizes(parts), sizes(parts)[1:], strict=False):
        assert sum(before) + after[0] > 100
    assert slices([], 100) == []
