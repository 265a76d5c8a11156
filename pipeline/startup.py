"""Local checks before the worker starts anything: its data dir and its HTTP port.

Both are checked before faust runs, so a conflict is one line naming the setting instead of a
faust crash half-way through its start (or, for the data dir, two workers silently writing
the same RocksDB files).
"""

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from precache.errors import ConfigError, DataDirLocked, PortInUse

LOCK_FILE = "precache-worker.lock"


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``data_dir/precache-worker.lock`` while the block runs.

    The kernel drops the lock when the process ends however it ends (SIGKILL included), so a
    restarted worker is never refused by a stale file; the file itself is left in place.
    """
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(
            f"data dir {data_dir} (--data-dir / PRECACHE_DATA_DIR) is not usable: "
            f"{exc.strerror or exc}"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            raise DataDirLocked(
                f"data dir {data_dir} is in use by another worker (pid {holder}): give each "
                f"worker its own --data-dir / PRECACHE_DATA_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield data_dir / LOCK_FILE
    finally:
        os.close(fd)


def check_port_free(bind: str, port: int) -> None:
    """Bind the worker's HTTP address once, as aiohttp will, and let it go."""
    try:
        addresses = socket.getaddrinfo(bind, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"web bind address {bind!r} (PRECACHE_WEB_BIND): {exc}") from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            # as aiohttp does: a previous worker's TIME_WAIT connections are no conflict
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUse(
                        f"web port {port} on {bind} is in use by another process: stop it or "
                        f"give this worker another port (--web-port / PRECACHE_WEB_PORT)"
                    ) from exc
                raise ConfigError(
                    f"cannot listen on {bind}:{port} (PRECACHE_WEB_BIND, --web-port / "
                    f"PRECACHE_WEB_PORT): {exc.strerror or exc}"
                ) from exc
