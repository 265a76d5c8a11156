"""How hosts are ordered and durations written: the way Nova's own watcher printed them."""

from precache.natural import natural_key, natural_sorted

__all__ = ["format_duration", "natural_key", "natural_sorted"]


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
