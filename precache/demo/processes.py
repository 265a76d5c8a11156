"""The demo's background components: ``precache bridge`` and ``precache worker`` subprocesses."""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


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


def run_foreground(args: Sequence[str], *, env: Mapping[str, str]) -> int:
    """Run a sub-command attached to our terminal (the watcher's progress bar needs it)."""
    argv = [sys.executable, "-m", "precache.cli", *args]
    with contextlib.suppress(KeyboardInterrupt):
        return subprocess.run(argv, env=dict(env), check=False).returncode
    return 130


def component_env(overrides: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **overrides}
