"""The demo's background components: ``precache bridge`` and ``precache worker`` subprocesses."""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from precache.errors import StartupError


@dataclass
class Component:
    """A precache sub-command running in the background, its output in a log file."""

    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, as an operator's service manager would; SIGKILL if it does not exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_component(
    name: str, args: Sequence[str], *, env: Mapping[str, str], log_dir: Path
) -> Component:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    argv = [sys.executable, "-m", "precache.cli", *args]
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(env)
        )
    return Component(name, argv, log, process)


def run_foreground(
    args: Sequence[str], *, env: Mapping[str, str], background: Sequence[Component] = ()
) -> int:
    """Run a sub-command attached to our terminal (the watcher's progress bar needs it); a
    background component that exits meanwhile stops it (it would wait for nothing)."""
    argv = [sys.executable, "-m", "precache.cli", *args]
    process = subprocess.Popen(argv, env=dict(env))
    try:
        while True:
            with contextlib.suppress(subprocess.TimeoutExpired):
                return process.wait(timeout=0.5)
            check_alive(background)
    except KeyboardInterrupt:
        return 130
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait()


def check_alive(components: Sequence[Component]) -> None:
    """Raise :class:`StartupError` (exit 3) naming a component that exited, and its last line."""
    for component in components:
        status = component.process.poll()
        if status is not None:
            raise StartupError(
                f"precache {component.name} exited with status {status}: "
                f"{last_line(component.log)} (log: {component.log})"
            )


def last_line(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return lines[-1][:500] if lines else "no output"


def component_env(overrides: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **overrides}
