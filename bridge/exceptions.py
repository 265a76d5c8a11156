"""Errors the bridge raises on purpose, in the project's one vocabulary (:mod:`precache.errors`).

::

    PrecacheError
     +-- StartupError
          +-- BrokerRefused
               +-- AmqpSetupError  RabbitMQ refused us (login, vhost, TLS, a declaration)

Kafka's refusals are the shared :class:`~precache.errors.BrokerRefused` (login, TLS,
authorization) and :class:`~precache.errors.TopicMismatch` (a topic set up wrongly, refused
at creation, or refusing our records even cut). Connection loss to either broker is not an
error here: the bridge retries it forever. Bad notification bodies are not errors either:
they become DLQ records (see ``decode``).
"""

from precache.errors import BrokerRefused


class AmqpSetupError(BrokerRefused):
    """RabbitMQ said no: a refused login or vhost, TLS settings, a queue that exists with
    other arguments; waiting cannot help."""
