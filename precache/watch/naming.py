"""How hosts are ordered and durations written: the way Nova's own watcher printed them."""

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, str], ...]:
    """Sort key so that ``host2`` comes before ``host10`` (plain sorting puts it after)."""
    parts = _DIGITS.split(name)
    return tuple((int(p), p) if i % 2 else (0, p.lower()) for i, p in enumerate(parts))


def natural_sorted(names: set[str] | list[str]) -> list[str]:
    return sorted(names, key=lambda n: (natural_key(n), n))


def format_duration(seconds: float | None) -> str:
    """151 -> ``2m31s``, 4 -> ``4s``, 3723 -> ``1h2m3s``; unknown -> ``?``."""
    if seconds is None:
        return "?"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
