"""A stray ``PRECACHE_*`` variable in the developer's shell does not reach the unit tests."""

import os
import subprocess
import sys
from pathlib import Path

from precache.bridge.settings import load_settings

STRAY = {"PRECACHE_BRIDGE_ID": "stray-bridge", "PRECACHE_PREFETCH": "7", "PRECACHE_REGION": "x"}


def test_settings_are_the_defaults_here() -> None:
    assert not [name for name in os.environ if name.startswith("PRECACHE_")]
    settings = load_settings()
    assert (settings.bridge_id, settings.prefetch, settings.region) == ("", 2000, "local")


def test_a_stray_variable_in_the_outer_environment_changes_no_unit_test() -> None:
    """The test above, in a pytest run whose environment holds stray bridge settings."""
    here = Path(__file__)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{here}::test_settings_are_the_defaults_here",
        ],
        cwd=here.parents[2],
        env={**os.environ, **STRAY},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
