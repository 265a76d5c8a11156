"""The records Kafka has not confirmed yet, by delivery tag: what a new producer sends again.

A producer is replaced when its idempotent sequence broke (``kafka_errors``); everything it
had not confirmed is then sent again by the new one, in delivery order, so one aggregate's
notifications stay in order within their partition. A confirmation (from any producer)
removes its records, so a record confirmed twice is acked once.
"""

import dataclasses

from precache.bridge.records import Delivery, Item, Record


@dataclasses.dataclass(slots=True)
class Entry:
    partition: int
    delivery: Delivery
    record: Record
    alone: bool = False  # in a batch Kafka refused: send in a batch of its own
    shrunk: bool = False  # a dead letter already cut after Kafka refused it


class Unconfirmed:
    """One AMQP connection's records sent (or being sent) and not yet confirmed by Kafka."""

    def __init__(self) -> None:
        self._entries: dict[int, Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, partition: int, item: Item) -> None:
        delivery, record = item
        self._entries[delivery.tag] = Entry(partition, delivery, record)

    def confirm(self, tag: int) -> bool:
        """Kafka has ``tag``'s record; False if it was confirmed already."""
        return self._entries.pop(tag, None) is not None

    def get(self, tag: int) -> Entry | None:
        return self._entries.get(tag)

    def in_order(self) -> list[Entry]:
        """Every entry, by delivery tag (the order RabbitMQ delivered them): a snapshot."""
        return [self._entries[tag] for tag in sorted(self._entries)]
