"""The root of precache's own errors.

::

    PrecacheError
     +-- ConfigError            a setting is invalid; names the setting
     +-- StackError             the local brokers could not be installed, started or reached
          +-- StackTimeout      a broker did not answer within its time limit

Every command turns these into one line on stderr and a non-zero exit, never a traceback.
"""


class PrecacheError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(PrecacheError):
    """A setting has a value we cannot use."""


class StackError(PrecacheError):
    """The local stack could not do what was asked."""


class StackTimeout(StackError):
    """A broker did not answer within its start time limit."""
