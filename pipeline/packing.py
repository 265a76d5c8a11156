"""One way to cut an ordered sequence into runs that each fit a byte budget: the state's
marker and host-list records and the inventory agent's slices of a batch all need it."""

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def pack(
    items: Iterable[T], size: Callable[[T], int], budget: int, empty: int = 0
) -> list[list[T]]:
    """``items`` in order, in runs whose sizes add up to at most ``budget``, counting ``empty``
    for a run itself (2 for a JSON ``[]`` or ``{}``); an item larger than ``budget`` stands
    alone in its run."""
    runs: list[list[T]] = []
    used = budget + 1
    for item in items:
        n = size(item)
        if used + n > budget:
            runs.append([])
            used = empty
        runs[-1].append(item)
        used += n
    return runs
