"""Settings of ``precache cache``: the watcher's, and which consumer group is the worker's."""

from pydantic import Field

from precache.watch.settings import WatchSettings


class CacheSettings(WatchSettings):
    """Env vars ``PRECACHE_*``; Nova's side is openstacksdk's configuration, not ours."""

    app_id: str = Field(
        "precache-pipeline",
        description="the worker's app id, i.e. its consumer group: no member -> a warning",
    )
