"""Secrets given as a value or as a file: ``PRECACHE_X`` or ``PRECACHE_X_FILE``.

A file keeps a password out of the environment of child processes and out of the process list;
both forms end up as one ``SecretStr`` field, so nothing downstream knows which was used.
"""

from pathlib import Path
from typing import Any

from precache.settings_base import ENV_PREFIX


def blank_is_unset(data: Any, *names: str) -> Any:
    """``PRECACHE_X=`` (empty) means not set, as for a shell variable, not ``Path("")``."""
    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if not (k in names and v == "")}


def read_secret_files(data: Any, *names: str) -> Any:
    """For a settings validator in ``before`` mode: fill ``name`` from ``name_file``.

    Giving both is refused (which one would win is not obvious); an unreadable file is an error
    naming the setting, never the file's contents.
    """
    if not isinstance(data, dict):
        return data
    for name in names:
        path = data.get(f"{name}_file")
        if path in (None, ""):
            continue
        env = f"{ENV_PREFIX}{name}".upper()
        if data.get(name) not in (None, ""):
            raise ValueError(f"give {env} or {env}_FILE, not both")
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"{env}_FILE {path}: {exc.strerror or exc}") from None
        data = {**data, name: text.rstrip("\r\n")}
    return data
