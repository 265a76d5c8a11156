"""The audit's own error: it could not read the run (the command exits 3)."""

from precache.errors import PrecacheError


class AuditError(PrecacheError):
    """Kafka unreachable, or an input file that cannot be read."""
