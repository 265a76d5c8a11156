"""Old names that bench/ still imports; tests import from ``tests.support``. Remove this file once
bench/ no longer imports from tests/."""

from tests.support.bridge import bridge_argv

__all__ = ["bridge_argv"]
