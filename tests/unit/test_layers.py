"""The services install and run without the developer tools' libraries (the `tools` extra)."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# (yaml and jsonschema are left out: pydantic-settings and others load them when present)
TOOL_LIBRARIES = ("oslo_messaging", "oslo_service", "eventlet")


def test_the_tools_libraries_are_an_extra_not_a_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = " ".join(project["dependencies"])
    for name in ("oslo.messaging", "pyyaml", "jsonschema"):
        assert name not in required
        assert any(d.startswith(name) for d in project["optional-dependencies"]["tools"])


@pytest.mark.parametrize(
    "module",
    [
        "precache.bridge.service",
        "precache.pipeline.app",
        "precache.watch.runner",
        "precache.cache.run",
        "precache.audit",
        "precache.cli.main",
    ],
)
def test_a_service_loads_none_of_the_tools_libraries(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"loaded = sorted(m for m in {TOOL_LIBRARIES!r} if m in sys.modules)\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_tool_without_its_extra_says_so_in_one_line(tmp_path: Path) -> None:
    """``precache simulate`` where oslo.messaging is not installed (shadowed by a package that
    cannot be imported, as pip leaves it when the extra is absent)."""
    shadow = tmp_path / "oslo_messaging"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'oslo_messaging'\", name='oslo_messaging')\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "precache.cli", "simulate", "--amqp-url", "amqp://127.0.0.1:1//"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert run.returncode == 3, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "oslo_messaging" in lines[0]
    assert "precache[tools]" in lines[0]
