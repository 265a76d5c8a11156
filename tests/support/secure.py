"""Running precache's commands against the secure stack, configured only by ``stack env``."""

import os
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from precache.stack import StackSettings


def stack_env(stack: StackSettings) -> dict[str, str]:
    """What ``precache stack env --secure`` prints, as a mapping (``unset`` lines left out)."""
    done = subprocess.run(
        [sys.executable, "-m", "precache.cli", "stack", "env", "--secure"],
        env={**_stack_vars(stack), **_no_precache(os.environ)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    env: dict[str, str] = {}
    for line in done.stdout.splitlines():
        words = shlex.split(line)
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
    return env


def _stack_vars(stack: StackSettings) -> dict[str, str]:
    return {
        "PRECACHE_STACK_STATE_DIR": str(stack.state_dir),
        "PRECACHE_STACK_AMQPS_PORT": str(stack.amqps_port),
        "PRECACHE_STACK_KAFKA_SASL_PORT": str(stack.kafka_sasl_port),
        "PRECACHE_STACK_KAFKA_SASL_CONTROLLER_PORT": str(stack.kafka_sasl_controller_port),
    }


def _no_precache(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("PRECACHE_")}


def command_env(configured: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The machine's environment without any ``PRECACHE_*`` but ``configured`` and ``extra``."""
    return {**_no_precache(os.environ), **configured, **extra}


def precache(*args: str) -> list[str]:
    return [sys.executable, "-m", "precache.cli", *args]


def run(
    args: list[str], env: Mapping[str, str], timeout: float = 60
) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        precache(*args), env=dict(env), capture_output=True, text=True, timeout=timeout
    )


class FirstBytesProxy:
    """A TCP proxy to ``target`` that keeps every byte clients sent through it, per connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.sent: list[bytearray] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            record = bytearray()
            with self._lock:
                self.sent.append(record)
            threading.Thread(target=_pipe, args=(client, upstream, record), daemon=True).start()
            threading.Thread(target=_pipe, args=(upstream, client, None), daemon=True).start()

    def close(self) -> None:
        self.server.close()

    def client_streams(self) -> list[bytes]:
        with self._lock:
            return [bytes(r) for r in self.sent]


def _pipe(src: socket.socket, dst: socket.socket, record: bytearray | None) -> None:
    try:
        while data := src.recv(65536):
            if record is not None:
                record += data
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@contextmanager
def proxy(target: tuple[str, int]) -> Iterator[FirstBytesProxy]:
    p = FirstBytesProxy(target)
    try:
        yield p
    finally:
        p.close()


def wait_for_line(path: Path, text: str, process: "subprocess.Popen[str]", timeout: float) -> None:
    """Until ``text`` appears in the log file ``path`` (fails if the process ends first)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise AssertionError(f"{process.args!r} exited {process.returncode}: {_tail(path)}")
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in {path} within {timeout}s: {_tail(path)}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else "(no output)"
