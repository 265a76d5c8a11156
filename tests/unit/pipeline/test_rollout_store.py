"""The rollouts' table (pipeline.rollout_store) on a plain dict: reads for merging come from the
table even before the index is rebuilt, the view reads the index of owned partitions only."""

from typing import Any

from precache.pipeline.rollout_store import RolloutStore
from precache.pipeline.rollouts import merge
from tests.support.rollout_events import request


def test_merging_reads_the_table_before_the_index_is_rebuilt() -> None:
    table: dict[str, Any] = {}
    first = RolloutStore(table)
    first.recovered()
    event = request(1)
    record = merge(None, event)
    assert record is not None
    first.put(event.subject, record, 3)
    restarted = RolloutStore(table)  # faust has not recovered it yet: no index
    assert restarted.get(event.subject) == {**record, "p": 3}  # so a merge never starts over
    assert list(restarted.records({3})) == []  # and the view has nothing to show: 503
    restarted.recovered()
    assert list(restarted.records({3})) == [{**record, "p": 3}]
    assert list(restarted.records({0, 1})) == []  # another worker's partition
    restarted.forget_index()  # a rebalance
    assert not restarted.ready
    assert list(restarted.records({3})) == []
