"""The gate's arguments as operators write them: ``95%``, ``6h``, ``1d12h``, ``90m``."""

import re
from datetime import timedelta

from precache.errors import ConfigError

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str, option: str) -> timedelta:
    """``1d12h``, ``6h``, ``90m``, ``30s`` or plain seconds."""
    value = text.strip().lower()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        return timedelta(seconds=float(value))
    parts = _PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ConfigError(f"{option}: expected a duration such as 6h, 90m, 1d12h; got {text!r}")
    return timedelta(seconds=sum(float(n) * _UNIT_S[u] for n, u in parts))


def share(text: str) -> float:
    """``95%`` or ``95`` -> 0.95."""
    value = text.strip().removesuffix("%")
    try:
        percent = float(value)
    except ValueError:
        percent = -1.0
    if not 0 <= percent <= 100:
        raise ConfigError(f"--require: expected a percentage from 0% to 100%, got {text!r}")
    return percent / 100
