"""``GET /healthz`` and ``GET /readyz`` of the worker, for service managers' probes.

``/healthz`` is served by a handler on the worker's event loop, so its answer *is* the check:
a loop that is stuck cannot answer (the probe times out). ``/readyz`` is 200 once the worker
owns raw partitions and faust has recovered their tables from the changelogs, 503 with the
reason before that, during a rebalance and during a recovery (a worker that restarts on a
new host rebuilds its state first).
"""

from typing import Any

from faust.tables.manager import TableManager

from precache.pipeline.context import Pipeline


def readiness(p: Pipeline, owned: set[int]) -> tuple[bool, dict[str, Any]]:
    """Whether this worker processes its partitions now; the reason when not."""
    app = p.app
    tables = app.tables
    assert isinstance(tables, TableManager)  # faust's own: the one that recovers the tables
    recovery = tables.recovery
    if app.rebalancing:
        reason = "rebalancing: partitions are being assigned"
    elif app.in_recovery or not recovery.completed.is_set():
        reason = "recovering tables from the changelog topics"
    elif not owned:
        reason = f"no partition of {p.settings.raw_topic} assigned"
    else:
        reason = None
    body: dict[str, Any] = {"status": "ready" if reason is None else "not ready"}
    body["partitions"] = sorted(owned)
    if reason is not None:
        body["reason"] = reason
    return reason is None, body
