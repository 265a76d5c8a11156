"""Prometheus metrics: what went where, why something went to the DLQ, what is in flight, and
whether this bridge is the active one (served by ``health``)."""

from prometheus_client import CollectorRegistry, Counter, Gauge

from precache.bridge.decode import Reason


class BridgeMetrics:
    """One registry per bridge, so several bridges (or tests) in one process do not clash."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter(
            "precache_bridge_received", "AMQP messages received", registry=self.registry
        )
        self.forwarded = Counter(
            "precache_bridge_forwarded",
            "records Kafka acknowledged",
            ["topic"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "precache_bridge_dead_letters",
            "bodies sent to the DLQ",
            ["reason"],
            registry=self.registry,
        )
        self.producer_replacements = Counter(
            "precache_bridge_producer_replacements",
            "Kafka producers replaced after a failed send (then the unconfirmed are sent again)",
            registry=self.registry,
        )
        self.reconnects = Counter(
            "precache_bridge_amqp_connects", "AMQP (re)connections", registry=self.registry
        )
        self.in_flight = Gauge(
            "precache_bridge_in_flight", "deliveries not yet acked", registry=self.registry
        )
        self.in_flight_bytes = Gauge(
            "precache_bridge_in_flight_bytes",
            "body bytes delivered by RabbitMQ and not yet acked (bound: max_in_flight_bytes)",
            registry=self.registry,
        )
        self.window = Gauge(
            "precache_bridge_amqp_window",
            "prefetch count of the current consumer(s): what the free bytes hold at the body "
            "size seen lately, at most prefetch; 0 while not fetching",
            registry=self.registry,
        )
        self.throttles = Counter(
            "precache_bridge_amqp_throttles",
            "times fetching stopped because max_in_flight_bytes was reached",
            registry=self.registry,
        )
        self.role = Gauge(
            "precache_bridge_role",
            "1 for the bridge's current role on its queue (active, standby, connected: not "
            "consuming, disconnected), 0 for the others",
            ["role"],
            registry=self.registry,
        )
        for reason in Reason:
            self.dead_letters.labels(reason=reason.value)

    def dead_letter_counts(self) -> dict[str, int]:
        return {
            reason.value: int(self._sample("precache_bridge_dead_letters_total", reason.value))
            for reason in Reason
        }

    def _sample(self, name: str, reason: str) -> float:
        return self.registry.get_sample_value(name, {"reason": reason}) or 0.0
