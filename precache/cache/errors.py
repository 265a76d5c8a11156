"""Errors of ``precache cache``; each is one line on stderr and exit status 3.

::

    PrecacheError
     +-- CacheError            the operation could not be started
          +-- NovaUnreachable  no answer from Nova (or the image service), or no usable config
          +-- NovaRefused      Nova answered 4xx/5xx: its own message
          +-- NotResolved      an aggregate or image name that names nothing, or several things
          +-- PipelineMissing  Kafka answers but the pipeline's derived topics do not exist
"""

from precache.errors import PrecacheError


class CacheError(PrecacheError):
    """The pre-cache operation was not started."""


class NovaUnreachable(CacheError):
    """Nova could not be reached, or openstacksdk has no usable configuration."""


class NovaRefused(CacheError):
    """Nova (or Glance) answered with an error; the message is the service's own."""


class NotResolved(CacheError):
    """An aggregate or image given by name is unknown or ambiguous."""


class PipelineMissing(CacheError):
    """Kafka lacks the derived topics: no worker ever ran against it."""
