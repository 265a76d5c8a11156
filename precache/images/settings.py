"""Where ``precache images`` asks: any worker (each one answers for all, docs/inventory.md)."""

from pydantic import Field

from precache.config import ConnectTimeout


class ImagesSettings(ConnectTimeout):
    """``PRECACHE_WORKER_URL``: a worker's HTTP view; ``PRECACHE_CONNECT_TIMEOUT_S`` bounds a
    request."""

    worker_url: str = Field(
        "http://127.0.0.1:6066", pattern=r"^https?://[^/\s]+/?$", description="a worker's HTTP view"
    )
