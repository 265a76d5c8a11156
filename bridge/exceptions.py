"""Errors the bridge raises on purpose.

::

    PrecacheError
     +-- BridgeError             the bridge cannot go on (it exits non-zero)
          +-- AmqpSetupError     RabbitMQ refused our exchange/queue/binding declaration
          +-- KafkaSetupError    Kafka refused to create or describe our topics

Connection loss to either broker is not an error here: the bridge retries it forever.
Bad notification bodies are not errors either: they become DLQ records (see ``decode``).
"""

from precache.errors import PrecacheError


class BridgeError(PrecacheError):
    """The bridge cannot go on."""


class AmqpSetupError(BridgeError):
    """RabbitMQ refused a declaration (e.g. the queue exists with other arguments)."""


class KafkaSetupError(BridgeError):
    """Kafka refused to create or describe a topic the bridge writes to."""
