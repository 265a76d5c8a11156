"""The worker's local start-up checks: its data dir lock and its web port."""

import os
import socket
from pathlib import Path

import pytest

from precache.errors import ConfigError, DataDirLocked, PortInUse
from precache.pipeline.startup import LOCK_FILE, check_port_free, data_dir_lock


def test_a_held_data_dir_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    held = f"in use by another worker \\(pid {os.getpid()}\\)"
    lock = tmp_path / "w"
    with data_dir_lock(lock), pytest.raises(DataDirLocked, match=held), data_dir_lock(lock):
        pass
    with data_dir_lock(tmp_path / "w"):  # released with the block, the file stays
        assert (tmp_path / "w" / LOCK_FILE).exists()


def test_an_unusable_data_dir_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="PRECACHE_DATA_DIR"), data_dir_lock(tmp_path / "f" / "w"):
        pass


def test_a_listening_port_is_refused_a_free_one_passes() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PortInUse, match=f"web port {port} .* PRECACHE_WEB_PORT"):
            check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", port)


def test_a_bad_bind_address_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="PRECACHE_WEB_BIND"):
        check_port_free("no-such-host.invalid", 6066)
