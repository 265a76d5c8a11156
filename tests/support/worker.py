"""`precache worker` as a subprocess with a test's own settings, on a free port."""

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.support import free_port, settings_env  # one copy, shared with the benchmarks
from precache.pipeline.settings import WorkerSettings

PRECACHE = Path(sys.executable).parent / "precache"
__all__ = ["WorkerProcess", "free_port", "settings_env"]


class WorkerProcess:
    """``precache worker`` as a child process with its own settings; stopped by its pid."""

    def __init__(self, settings: WorkerSettings, log: Path) -> None:
        self.settings = settings
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    def start(self) -> "WorkerProcess":
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(PRECACHE), "worker"],
                env=settings_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def wait_ready(self, partitions: int | None = None, timeout: float = 90) -> dict[str, Any]:
        """Until the HTTP view answers and this worker owns ``partitions`` raw partitions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            assert self.proc.poll() is None, self.tail()
            try:
                status, body = self.get("/stats/")
                owned = len(body.get("partitions", []))
                if status == 200 and (owned == partitions if partitions is not None else owned):
                    return dict(body)
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"worker not ready in {timeout}s\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])
