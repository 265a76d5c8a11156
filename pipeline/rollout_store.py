"""The rollouts' faust table (``rollouts``, co-partitioned with ``precache.rollout``): one
record per target, key ``region/aggregate uuid`` as on the topic, value the record of
:mod:`pipeline.rollouts` plus ``p``, its partition (faust's memory store is one dict for all
partitions, so the HTTP view filters by owned partition itself).

An index (key -> record) serves the reads without a table scan; it is rebuilt from the table
once faust has recovered it after a start or a rebalance (:meth:`RolloutStore.recovered`).
Until then :attr:`RolloutStore.ready` is False and ``GET /rollouts`` answers 503, as the
inventory does: a partial answer would let a restarted rollout retry a target once more.
"""

from collections.abc import Iterator
from typing import Any

from precache.pipeline.rollouts import Record


class RolloutStore:
    def __init__(self, table: Any) -> None:
        self.table = table
        self.ready = False
        self._built = False
        self._index: dict[str, Record] = {}

    def get(self, key: str) -> Record | None:
        """From the table itself (under the event's partition scope), not the index: the
        agent may run before the index is rebuilt, and must merge into what is stored."""
        value = self.table.get(key)
        return value if isinstance(value, dict) else None

    def put(self, key: str, record: Record, partition: int) -> None:
        self._build()
        value = {**record, "p": partition}
        self.table[key] = value
        self._index[key] = value

    def records(self, owned: set[int]) -> Iterator[Record]:
        self._build()
        for record in self._index.values():
            if record.get("p") in owned:
                yield record

    def _build(self) -> None:
        if self._built or not self.ready:
            return
        self._built = True
        for key in list(self.table.keys()):
            value = self.table.get(key)
            if isinstance(key, str) and isinstance(value, dict):
                self._index[key] = value

    def recovered(self) -> None:
        """faust has recovered the table (its ``on_recover`` callback)."""
        self.forget_index()
        self.ready = True

    def forget_index(self) -> None:
        """Partitions moved: rebuild from the table once it is recovered."""
        self.ready = False
        self._built = False
        self._index.clear()
