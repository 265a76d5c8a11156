"""Garbage-collector pauses out of the latency path of the long-running services.

CPython's full (generation 2) collection walks every tracked object, and most of a service's
objects are the ones start-up made: faust, aiokafka, pydantic, structlog, the modules and their
classes. Measured on the worker and the bridge during ``bench e2e`` (``gc.callbacks``): a full
collection every few seconds, each 30-45 ms (one of 202 ms in the worker, 66 ms in the bridge),
each one a pause for every notification in flight, far beyond the latency targets.
:func:`freeze_startup_heap` moves what start-up made into the collector's permanent generation
(``gc.freeze``, which the CPython docs recommend for this), so full collections walk only what
the service made since. Objects frozen are still freed by reference counting; only reference
cycles among them are never collected, and start-up objects live as long as the process.

:func:`space_out_collections` is the worker's second measure: a worker applying a backlog
allocates and frees millions of small, acyclic objects (decoded records, entries, encoded
events) that reference counting frees, yet CPython runs a young collection every 700
allocations net of frees and walks each survivor. Measured in ``bench scale --steps 30000``
(``gc.callbacks``): 1,458 collections, 0.99 CPU s of about 9 (11 %) at the default
thresholds; 12 collections, 0.28 s at :data:`WORKER_THRESHOLDS`, the same peak RSS.
"""

import gc

import structlog

log = structlog.get_logger(__name__)


WORKER_THRESHOLDS = (50_000, 20, 20)  # CPython's defaults: (700, 10, 10)


def space_out_collections(thresholds: tuple[int, int, int] = WORKER_THRESHOLDS) -> None:
    """Collect young objects every ``thresholds[0]`` net allocations instead of 700."""
    gc.set_threshold(*thresholds)


def freeze_startup_heap() -> int:
    """Collect once, then freeze every object that survived; returns how many were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up heap frozen out of the garbage collector", objects=frozen)
    return frozen
