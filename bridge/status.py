"""What the bridge is right now: its role on the queue and whether each broker answers.

RabbitMQ's single active consumer tells a consumer nothing over AMQP 0-9-1 (3.10 to 4.x: the
``rabbitmq:active`` notification exists for AMQP 1.0 only, rabbitmq-server#14726), so the role
is what the bridge can observe itself:

- ``disconnected``: no AMQP connection;
- ``connected``: connected and our queue declared, not consuming (Kafka not ready yet, or
  shutting down);
- ``standby``: consuming a single-active-consumer queue and nothing delivered to us on this
  connection: RabbitMQ delivers to another bridge, or the queue has been empty since we
  subscribed (an active bridge of an idle queue says ``standby`` until its first message);
- ``active``: RabbitMQ delivered to us on this connection (with a single active consumer, it
  delivers to one consumer only), or consuming a queue without single active consumer.

A standby becomes active with its first delivery; an active bridge becomes standby only
through a new connection (RabbitMQ never moves the role away from a live consumer). Every
change is logged once and shown by the ``precache_bridge_role`` gauge and ``/readyz``.
Written from the AMQP thread and the event loop; each field is one reference, swapped whole.
"""

import enum
import threading
import time

import structlog
from prometheus_client import Gauge

log = structlog.get_logger(__name__)


class Role(enum.StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTED = "connected"
    STANDBY = "standby"
    ACTIVE = "active"


class BridgeStatus:
    """The role and each broker's state, for the health endpoint and the role gauge."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._lock = threading.Lock()
        self.role = Role.DISCONNECTED
        self.kafka_error: str | None = None  # before the producer starts: see Bridge.readiness
        self.kafka_checked_at = 0.0
        for role in Role:
            gauge.labels(role=role.value).set(0)
        gauge.labels(role=self.role.value).set(1)

    def set_role(self, role: Role, **context: object) -> None:
        """Record ``role``; a change is logged (one line) and moves the gauge."""
        with self._lock:
            previous, self.role = self.role, role
            if previous is role:
                return
            self._gauge.labels(role=previous.value).set(0)
            self._gauge.labels(role=role.value).set(1)
        log.info("bridge role changed", role=role.value, previous=previous.value, **context)

    def delivered(self) -> None:
        """A delivery arrived: whoever RabbitMQ delivers to is the active consumer."""
        if self.role is not Role.ACTIVE:
            self.set_role(Role.ACTIVE)

    def kafka_answered(self, error: str | None) -> None:
        """The outcome of the latest Kafka check (None: it answered)."""
        if (error is None) != (self.kafka_error is None):
            if error is None:
                log.info("kafka answers again")
            else:
                log.warning("kafka does not answer", error=error)
        self.kafka_error = error
        self.kafka_checked_at = time.monotonic()
