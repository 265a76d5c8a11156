"""Read-only HTTP view: ``GET /operations`` (filters: :mod:`pipeline.operation_query`) and
``GET /operations/{id}``.

Each worker answers from the partitions it owns; a request for an operation it does not own is
forwarded to the other workers (found in faust's assignor metadata, not its ``/router`` pages)
with ``?local=1``, so the owning worker answers. ``GET /stats`` shows this worker's counters,
``GET /healthz`` and ``GET /readyz`` are the probes of service managers (``health``).

Only these routes are served: faust's own pages (``/table/<name>/<key>/`` serves raw table
records, ``/router`` the cluster's layout) are off, through faust's ``web_*_enabled`` settings
(:func:`pipeline.app.faust_app`) and :class:`OwnRoutesOnly` for the index page, which has no
setting.
"""

import asyncio
import urllib.parse
from typing import Any

import aiohttp
import structlog
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from precache.pipeline import health
from precache.pipeline.context import Pipeline
from precache.pipeline.events import operation_data
from precache.pipeline.operation import Summary
from precache.pipeline.operation_query import BadQuery, Query, parse

log = structlog.get_logger(__name__)

PEER_TIMEOUT = aiohttp.ClientTimeout(total=5)  # another worker that does not answer is skipped


class OwnRoutesOnly(AiohttpWeb):
    """faust's aiohttp server without any of its built-in blueprints, flagged or not.

    ``production_blueprints`` (faust's ``/`` index) has no ``web_*_enabled`` setting; the
    other lists are emptied too so a blueprint faust adds later is not served unnoticed.
    """

    default_blueprints = ()
    production_blueprints = ()
    debug_blueprints = ()
    optional_blueprints = ()


def attach(p: Pipeline) -> None:
    app = p.app
    # before the first app.page(), which creates faust's default server (a cached property)
    if "web" in vars(app):
        raise RuntimeError("faust's web server was created before pipeline.web.attach")
    app.web = OwnRoutesOnly(app)

    async def list_operations(view: Any, request: Any) -> Any:
        try:
            query = parse(request.query.items())
        except BadQuery as exc:
            return view.json({"error": str(exc)}, status=400)
        found = local_operations(p, query)
        if not request.query.get("local"):
            params = urllib.parse.urlencode([("local", "1"), *query.params()])
            for body in await fan_out(p, f"/operations/?{params}"):
                found.extend(body.get("operations", []))
        found.sort(key=lambda d: (d["started_at"], d["operation_id"]))
        return view.json({"operations": found, "count": len(found)})

    async def get_operation(view: Any, request: Any, op_id: str) -> Any:
        summary = owned_summary(p, op_id)
        if summary is not None:
            return view.json(operation_data(summary).model_dump(mode="json"))
        if not request.query.get("local"):
            for body in await fan_out(p, f"/operations/{op_id}?local=1"):
                if body.get("operation_id") == op_id:
                    return view.json(body)
        return view.json({"error": "not found", "operation_id": op_id}, status=404)

    async def stats(view: Any, request: Any) -> Any:
        s = p.stats
        skipped = p.skips.dropped  # dropped by the consumer, unseen
        return view.json(
            {
                "applied": s.applied,
                "ignored": s.ignored + skipped,
                "skipped_unseen": skipped,
                "malformed": s.malformed,
                "malformed_by_reason": s.by_reason,
                "late": s.late,
                "held": s.held,
                "quarantined": s.quarantined,
                "ticks": s.ticks,
                "batches": s.batches,
                "batched_records": s.batched,
                "batch_latency": s.batch_latency(),
                "first_applied_at": s.first_applied_at,
                "last_applied_at": s.last_applied_at,
                "gap_records_checked": p.gaps.checked,
                "gap_records_filled": p.gaps.filled,
                "partitions": sorted(owned_partitions(p)),
                "rollout_events": vars(p.rollouts.stats) if p.rollouts else {},
                "inventory_inputs": inventory_counts(p),
            }
        )

    async def healthz(view: Any, request: Any) -> Any:
        return view.json({"status": "ok"})  # answered by the event loop: it runs

    async def readyz(view: Any, request: Any) -> Any:
        ready, body = health.readiness(p, owned_partitions(p))
        return view.json(body, status=200 if ready else 503)

    app.page("/healthz", name="healthz")(healthz)
    app.page("/readyz", name="readyz")(readyz)
    # both spellings: the issue and curl users say /operations, faust's own pages end in /
    app.page("/operations", name="operations-list")(list_operations)
    app.page("/operations/", name="operations-list-slash")(list_operations)
    app.page("/operations/{op_id:.+}", name="operations-detail")(get_operation)
    app.page("/stats", name="stats")(stats)
    app.page("/stats/", name="stats-slash")(stats)


def inventory_counts(p: Pipeline) -> dict[str, dict[str, int]]:
    """The inventory agent's counts: inputs applied and skipped by kind, dead letters by
    reason (the same as ``/metrics``' ``precache_worker_inventory_*``)."""
    if p.inventory is None:
        return {}
    s = p.inventory.stats
    return {"applied": dict(s.applied), "skipped": dict(s.skipped), "dead": dict(s.dead)}


def owned_partitions(p: Pipeline) -> set[int]:
    raw = p.settings.raw_topic
    return {tp.partition for tp in p.app.consumer.assignment() if tp.topic == raw}


def owned_summary(p: Pipeline, op_id: str) -> Summary | None:
    summary = p.store.get_summary(op_id)
    if summary is None or summary["partition"] not in owned_partitions(p):
        return None  # unknown here, or left over from a partition since handed to another worker
    return summary


def local_operations(p: Pipeline, query: Query | None = None) -> list[dict[str, Any]]:
    owned = owned_partitions(p)
    query = query or Query()
    return [
        operation_data(s).model_dump(mode="json")
        for s in p.store.summaries()
        if s["partition"] in owned and query.matches(s)
    ]


def peer_urls(p: Pipeline) -> list[str]:
    me = str(p.app.conf.canonical_url).rstrip("/")
    urls = {str(u).rstrip("/") for u in p.app.router.tables_metadata()}
    return sorted(urls - {me})


async def fan_out(p: Pipeline, path: str) -> list[dict[str, Any]]:
    """GET ``path`` on every other worker; unreachable ones are skipped (logged)."""

    async def one(url: str) -> dict[str, Any] | None:
        try:
            async with p.app.http_client.get(url + path, timeout=PEER_TIMEOUT) as response:
                if response.status != 200:
                    return None
                body: dict[str, Any] = await response.json()
                return body
        except (OSError, TimeoutError) as exc:
            log.warning("peer did not answer", url=url, error=str(exc))
            return None

    results = await asyncio.gather(*(one(u) for u in peer_urls(p)))
    return [r for r in results if r is not None]
