"""When the AMQP thread stops fetching, fetches again, or widens its prefetch window.

Pure bookkeeping, no I/O: the consumer reports what it sees (a delivery arrived, an ack went
out, a drain pass ended, whether it may fetch) and asks what to do; it does the AMQP part
(basic.qos, basic.consume, basic.cancel) itself. One object per AMQP connection, like the
``InFlightBytes`` it holds: RabbitMQ requeues whatever an old connection had not acked.

The rules: above ``max_in_flight_bytes`` stop fetching (throttle); at the resume mark fetch
again (resume); a consumer whose window is full of bodies smaller than assumed is replaced by
one with at least twice the window (widen), since a consumer's prefetch cannot change.

With ``fixed`` (a single-active-consumer queue) there is one consumer per connection with the
whole ``prefetch`` window, never throttled nor widened: cancelling it would make RabbitMQ hand
the queue to a standby bridge while this one still holds deliveries. The bytes in flight are
then bounded by ``prefetch`` times the body size, not by ``max_in_flight_bytes``.
"""

import enum

from precache.bridge.inflight import InFlightBytes


class Step(enum.Enum):
    """What the consumer does after a drain pass."""

    HOLD = "hold"  # nothing changes
    THROTTLE = "throttle"  # over the bound: cancel the consumers until acks free bytes
    WIDEN = "widen"  # bodies smaller than assumed: consume again with a wider window
    RESUME = "resume"  # throttled (or not yet fetching) and allowed again: consume again


class FlowControl:
    """In-flight bytes, the current prefetch window and whether fetching waits to resume."""

    __slots__ = ("_size", "consumers", "fixed", "held", "prefetch", "throttled", "window")

    def __init__(
        self,
        max_in_flight_bytes: int,
        prefetch: int,
        max_body_bytes: int,
        consumers: int = 1,
        *,
        fixed: bool = False,
    ) -> None:
        self.fixed = fixed
        self.held = InFlightBytes(max_in_flight_bytes)
        self.prefetch = prefetch
        self.consumers = consumers  # one per queue; they share the free bytes
        self.window = 0  # each consumer's prefetch count; 0 while not consuming
        # not consuming, and to consume once allowed and at the resume mark: so from the start
        self.throttled = True
        self._size = max_body_bytes  # no body seen yet: assume the largest allowed

    @property
    def consuming(self) -> bool:
        return self.window > 0

    def delivered(self, tag: int, size: int) -> None:
        """Delivery ``tag`` with a body of ``size`` bytes arrived."""
        self.held.add(tag, size)

    def acked(self, tag: int) -> None:
        """A multiple-ack up to ``tag`` went out."""
        self.held.release(tag)

    @property
    def taking(self) -> bool:
        """Whether to take one more delivery into this batch: the batch is cut at the delivery
        that crosses the bound, so the cancel goes out at once; once the consumers are
        cancelled, whatever RabbitMQ still sends is taken as usual."""
        return self.held.total <= self.held.limit or not self.consuming or self.fixed

    def step(self, *, paused: bool, may_fetch: bool) -> Step:
        """After a drain pass: what to do. ``paused``: shutting down (no new consumers);
        ``may_fetch``: Kafka is ready."""
        held = self.held
        if self.consuming:
            if self.fixed:
                return Step.HOLD
            if held.over:
                return Step.THROTTLE
            if self.window < self.prefetch and len(held) >= self.window and not paused:
                return Step.WIDEN if self._wider() else Step.HOLD
            return Step.HOLD
        if self.throttled and held.may_resume and not paused and may_fetch:
            return Step.RESUME
        return Step.HOLD

    def _wider(self) -> bool:
        """The bodies this consumer brought (none: no news) allow at least twice its window."""
        size = self.held.largest
        if not size:
            return False
        return self.held.window(self.prefetch, size, self.consumers) >= 2 * self.window

    def open(self) -> int:
        """New consumers start: each one's window, what the free bytes hold at the largest body
        since the last ``open`` (at first, ``max_body_bytes``); RabbitMQ fills a new consumer's
        window at once from a backlog, and counts it in messages."""
        seen = self.held.take_largest()
        if seen:
            self._size = seen
        if self.fixed:
            self.window = self.prefetch
        else:
            self.window = self.held.window(self.prefetch, self._size, self.consumers)
        self.throttled = False
        return self.window

    def close(self, *, resume: bool) -> None:
        """The consumers were cancelled; ``resume``: fetch again at the resume mark (a throttle),
        else not on its own (a widen opens at once, a shutdown never)."""
        self.window = 0
        self.throttled = resume
