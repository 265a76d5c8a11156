"""Old names that bench/ still imports; tests import from ``tests.support``. Remove this file once
bench/ no longer imports from tests/."""

from tests.support.kafka import produce
from tests.support.worker import WorkerProcess, free_port

__all__ = ["WorkerProcess", "free_port", "produce"]
