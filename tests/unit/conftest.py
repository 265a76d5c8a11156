"""Unit tests see none of the developer's ``PRECACHE_*`` variables.

Every settings object reads ``PRECACHE_*`` env vars, so a developer's exported
``PRECACHE_PREFETCH`` (or the private stack ports) would change what a unit test builds. No
settings object reads a config file unless it is given one (``--config``): there is no user
file to point away from. Integration tests keep ``PRECACHE_STACK_*``: they pick the brokers.
"""

import os

import pytest


@pytest.fixture(autouse=True)
def _no_precache_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Removed for the test, given back after it (monkeypatch)."""
    for name in [name for name in os.environ if name.startswith("PRECACHE_")]:
        monkeypatch.delenv(name)
