"""How many body bytes the bridge holds: delivered by RabbitMQ, not yet acked.

The AMQP thread counts every delivery it hands over and releases them when it sends a
multiple-ack; above ``limit`` it stops fetching (basic.cancel), at or below ``resume_at`` it
fetches again. One object per AMQP connection: a new connection starts from zero, because
RabbitMQ requeues whatever the old one had not acked.

RabbitMQ counts its prefetch window in messages, and fills a new consumer's window at once
when the queue has a backlog: so each consumer is given the window (``window``) that the free
bytes hold at the body size seen lately, not just ``prefetch``.
"""

from collections import deque


class InFlightBytes:
    """Bytes per delivery tag, in delivery order; a multiple-ack of T releases every tag <= T.

    Delivery tags of one channel only grow, so the oldest entries are always the first
    released: adding and releasing are O(1) per delivery, nothing is searched.
    """

    __slots__ = ("_sizes", "largest", "limit", "resume_at", "total")

    def __init__(self, limit: int, resume_at: int | None = None) -> None:
        if limit < 1:
            raise ValueError(f"limit must be positive, not {limit}")
        self.limit = limit
        self.resume_at = limit // 2 if resume_at is None else resume_at
        if not 0 <= self.resume_at <= limit:
            raise ValueError(f"resume_at must be within 0..{limit}, not {self.resume_at}")
        self.total = 0
        self.largest = 0  # the largest body added since ``take_largest``
        self._sizes: deque[tuple[int, int]] = deque()

    def __len__(self) -> int:
        """Deliveries held."""
        return len(self._sizes)

    def add(self, tag: int, size: int) -> None:
        """Delivery ``tag`` with a body of ``size`` bytes arrived."""
        self._sizes.append((tag, size))
        self.total += size
        if size > self.largest:
            self.largest = size

    def release(self, tag: int) -> int:
        """Every delivery up to ``tag`` was acked; the bytes that frees."""
        sizes = self._sizes
        freed = 0
        while sizes and sizes[0][0] <= tag:
            freed += sizes.popleft()[1]
        self.total -= freed
        return freed

    @property
    def over(self) -> bool:
        """Above the limit: stop fetching."""
        return self.total > self.limit

    @property
    def may_resume(self) -> bool:
        """Back at or below the resume mark: fetch again."""
        return self.total <= self.resume_at

    def take_largest(self) -> int:
        """The largest body added since the last call (0: none), and start over."""
        largest, self.largest = self.largest, 0
        return largest

    def window(self, prefetch: int, size: int, consumers: int = 1) -> int:
        """Prefetch count for each of ``consumers`` new consumers: what RabbitMQ may send them
        at once must fit in the free bytes if bodies are ``size`` bytes, and all deliveries
        held stay within ``prefetch``; at least 1, so a body always gets through.
        """
        by_bytes = max(self.limit - self.total, 0) // (max(size, 1) * consumers)
        by_count = prefetch - len(self._sizes)
        return max(1, min(by_bytes, by_count))
