"""Which AMQP delivery tag may be acked (``multiple=True``) once Kafka took some records.

Kafka confirms records out of order across partitions; a multiple-ack of tag T acks every
delivery up to T, so we may only ack up to the oldest record Kafka has not confirmed yet.
"""

from collections import deque


class AckWindow:
    """Delivery tags in arrival order; tells the highest tag whose predecessors are all done."""

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._done: set[int] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, tag: int) -> None:
        self._pending.append(tag)

    def done(self, tag: int) -> int | None:
        """Mark ``tag`` done; the new tag to ack with multiple=True, or None."""
        self._done.add(tag)
        highest = None
        pending, finished = self._pending, self._done
        while pending and pending[0] in finished:
            highest = pending.popleft()
            finished.discard(highest)
        return highest
