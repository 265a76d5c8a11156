"""Errors of the watcher.

::

    PrecacheError
     +-- WatchError             the watcher cannot do its job
          +-- KafkaUnreachable  no Kafka broker answered at the bootstrap address

The CLI turns them into one line on stderr and exit status 3.
"""

from precache.errors import PrecacheError


class WatchError(PrecacheError):
    """The watcher cannot follow operations."""


class KafkaUnreachable(WatchError):
    """Kafka did not answer within the connect timeout (refused, unknown host, silence)."""
