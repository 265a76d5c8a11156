"""What a new producer sends again: every unconfirmed record once, in delivery order per
partition, records of a refused batch one per batch."""

from precache.bridge.records import Delivery, Record
from precache.bridge.service import _shipments
from precache.bridge.unconfirmed import Unconfirmed


def _item(tag: int, topic: str = "raw") -> tuple[Delivery, Record]:
    return Delivery(tag, b"", "rk"), Record(topic, str(tag).encode(), None, [])


def test_resent_in_delivery_order_per_partition_with_alone_runs_apart() -> None:
    pending = Unconfirmed()
    for tag, partition in [(5, 1), (1, 0), (3, 1), (2, 0), (4, 0), (6, 0)]:
        pending.add(partition, _item(tag))
    entry = pending.get(4)
    assert entry is not None
    entry.alone = True
    assert pending.confirm(3)
    assert not pending.confirm(3)  # confirmed twice (two producers): counted once
    shipments = [
        (s.partition, [d.tag for d, _ in s.items], s.alone)
        for s in _shipments(7, pending.in_order())
    ]
    assert shipments == [(0, [1, 2], False), (0, [4], True), (0, [6], False), (1, [5], False)]
    assert {s.epoch for s in _shipments(7, pending.in_order())} == {7}
