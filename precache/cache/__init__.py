"""``precache cache``: ask Nova to pre-cache images on an aggregate, then follow exactly that
operation to its end.

:mod:`.nova` talks to Nova (and Glance, for image names) through openstacksdk, :mod:`.preflight`
checks Kafka and the pipeline, :mod:`.run` wires them to the watcher's follow path, which it
shares with ``precache watch``.
"""

from precache.cache.run import CacheOptions, run_cache

__all__ = ["CacheOptions", "run_cache"]
