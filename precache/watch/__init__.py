"""``precache watch``: follow one image pre-cache operation on the derived topics to its end.

The flow: :mod:`.kafka_source` reads CloudEvents, :mod:`.follow` decides (pure functions)
which operation is followed and when it is over, :mod:`.render` shows it, :mod:`.runner` wires
them and maps the result to an exit status.
"""

from precache.watch.runner import WatchOptions, WatchResult, run_watch
from precache.watch.settings import WatchSettings

__all__ = ["WatchOptions", "WatchResult", "WatchSettings", "run_watch"]
