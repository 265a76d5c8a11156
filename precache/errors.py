"""The root of precache's own errors.

::

    PrecacheError
     +-- ConfigError            a setting is invalid; names the setting
     +-- StackError             the local brokers could not be installed, started or reached
     |    +-- StackTimeout      a broker did not answer within its time limit
     +-- StartupError           a service cannot start; says what is wrong and how to fix it
          +-- BrokerUnreachable Kafka or RabbitMQ did not answer (or failed while we asked)
          +-- BrokerRefused     the broker answered but refused us (login, vhost, TLS, ACLs)
          +-- PortInUse         the HTTP port is taken by another process
          +-- DataDirLocked     another worker holds the data dir
          +-- TopicMismatch     a topic is set up wrongly, or Kafka refused to create it
          +-- WorkerUnreachable a worker's HTTP view did not answer (precache images)
     +-- DeliveryError          the broker took the connection but not the messages
     +-- ServiceFailed          a running service stopped on an unexpected error (exit 1)

The three broker errors are the one vocabulary of the bridge, the worker and the operator
tools (watch, cache): each says which broker, which address or topic, and which setting to fix.
Every command turns these into one line on stderr and its ``exit_status`` (3 unless the class
says otherwise), never a traceback.
"""


class PrecacheError(Exception):
    """Base of every error this project raises on purpose."""

    exit_status = 3  # bad arguments, configuration, or a broker we cannot use


class ConfigError(PrecacheError):
    """A setting has a value we cannot use."""


class StackError(PrecacheError):
    """The local stack could not do what was asked."""


class StackTimeout(StackError):
    """A broker did not answer within its start time limit."""


class StartupError(PrecacheError):
    """A check before a service starts failed; raised before it consumes or produces."""


class BrokerUnreachable(StartupError):
    """Refused, unknown host or silence until ``PRECACHE_CONNECT_TIMEOUT_S``."""


class BrokerRefused(StartupError):
    """The broker answered and said no: bad credentials, a missing vhost, no permission."""


class PortInUse(StartupError):
    """The worker's HTTP port is bound by another process."""


class DataDirLocked(StartupError):
    """Another worker process holds the data dir's lock file."""


class TopicMismatch(StartupError):
    """A topic has the wrong partition count, cleanup policy or size limit, or Kafka refused
    to create it (an illegal name, a policy) or to take our records at all."""


class WorkerUnreachable(StartupError):
    """The worker's HTTP view refused, timed out or answered with an error."""


class DeliveryError(PrecacheError):
    """Messages could not be delivered after the connection was made (the broker went away)."""


class ServiceFailed(PrecacheError):
    """Not a setting: the service started and then failed (details in its log)."""

    exit_status = 1
