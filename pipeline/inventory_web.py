"""Read-only HTTP view of the inventory: ``GET /images``, ``/images/{image}``, ``/hosts/{host}``,
``/aggregates/{aggregate}``.

Scatter and gather, as ``/operations`` lists: the worker asked answers from the partitions it
owns and adds what every other worker answers with ``?local=1``. Unlike ``/operations``, a
peer that does not answer, or is still recovering its table (503), fails the whole request
with 503: a partial inventory would pass a rollout gate it should fail.

All hosts of one image in one region live in one partition (:mod:`pipeline.inventory_store`),
so each (region, image) summary comes whole from one worker; memberships are in every
partition, so each worker restricts its rows to an aggregate's hosts itself.
"""

import asyncio
import urllib.parse
from typing import Any

from precache.pipeline.inventory import Membership, summarize, view
from precache.pipeline.inventory_agent import Inventory
from precache.pipeline.web import owned_partitions, peer_urls

Query = dict[str, str]


def attach(p: Any, inv: Inventory) -> None:
    app = p.app

    async def gather(request: Any, path: str, key: str) -> list[dict[str, Any]]:
        """Other workers' ``key`` lists for the same query (none when this is one of them)."""
        if request.query.get("local"):
            return []
        query = urllib.parse.urlencode(_params(request))
        found: list[dict[str, Any]] = []
        for body in await ask_peers(p, f"{path}?local=1&{query}"):
            found.extend(body.get(key, []))
        return found

    def guard(handler: Any) -> Any:
        """503 while this worker's table is not recovered, or a peer did not answer."""

        async def guarded(view_: Any, request: Any, **path: str) -> Any:
            if not inv.store.ready:
                return view_.json({"error": "inventory is recovering, ask again"}, status=503)
            try:
                return await handler(view_, request, **path)
            except PeerFailed as exc:
                return view_.json({"error": str(exc)}, status=503)

        return guarded

    async def list_images(view_: Any, request: Any) -> Any:
        q = _params(request)
        aggs = aggregates_named(inv, q.get("aggregate"), q.get("region"))
        if aggs == []:
            return view_.json({"error": "unknown aggregate", **q}, status=404)
        found = local_images(p, inv, None, q, aggs) + await gather(request, "/images", "images")
        found.sort(key=lambda d: (d["image"], d["region"]))
        return view_.json({"images": found, "count": len(found)})

    async def get_image(view_: Any, request: Any, image: str) -> Any:
        q = _params(request)
        aggs = aggregates_named(inv, q.get("aggregate"), q.get("region"))
        if aggs == []:
            return view_.json({"error": "unknown aggregate", **q}, status=404)
        found = local_images(p, inv, image, q, aggs)
        found += await gather(request, f"/images/{image}", "images")
        if not found and not request.query.get("local"):
            return view_.json({"error": "not found", "image": image}, status=404)
        found.sort(key=lambda d: d["region"])
        return view_.json({"image": image, "images": found})

    async def get_host(view_: Any, request: Any, host: str) -> Any:
        q = _params(request)
        rows = local_host_rows(p, inv, host, q.get("region"))
        rows += await gather(request, f"/hosts/{host}", "rows")
        rows.sort(key=lambda r: (r["region"], r["image"]))
        aggs = [
            {"region": m.region, "uuid": m.uuid, "name": m.name}
            for m in inv.store.memberships(q.get("region"))
            if not m.deleted and host in m.hosts
        ]
        if not rows and not aggs and not request.query.get("local"):
            return view_.json({"error": "not found", "host": host}, status=404)
        return view_.json({"host": host, "rows": rows, "aggregates": _sorted(aggs)})

    async def get_aggregate(view_: Any, request: Any, aggregate: str) -> Any:
        q = {**_params(request), "aggregate": aggregate, "hosts": "1"}
        aggs = aggregates_named(inv, aggregate, q.get("region"))
        if not aggs:
            return view_.json({"error": "unknown aggregate", "aggregate": aggregate}, status=404)
        found = local_images(p, inv, q.get("image"), q, aggs)
        found += await gather(request, f"/aggregates/{aggregate}", "images")
        found.sort(key=lambda d: (d["image"], d["region"]))
        members = [
            {"region": m.region, "uuid": m.uuid, "name": m.name, "at": m.at,
             "source": m.source, "hosts": sorted(m.hosts)}
            for m in aggs
        ]  # fmt: skip
        return view_.json({"aggregates": _sorted(members), "images": found})

    for path, handler, name in (
        ("/images", list_images, "images-list"),
        ("/images/", list_images, "images-list-slash"),
        ("/images/{image:[^/]+}", get_image, "images-detail"),
        ("/hosts/{host:[^/]+}", get_host, "hosts-detail"),
        ("/aggregates/{aggregate:[^/]+}", get_aggregate, "aggregates-detail"),
    ):
        app.page(path, name=name)(guard(handler))


class PeerFailed(Exception):
    """Another worker did not answer its share of a read."""


async def ask_peers(p: Any, path: str) -> list[dict[str, Any]]:
    """GET ``path`` on every other worker; any failure fails the read (module doc)."""

    async def one(url: str) -> dict[str, Any]:
        try:
            async with p.app.http_client.get(url + path, timeout=5) as response:
                if response.status != 200:
                    raise PeerFailed(f"worker {url} answered {response.status}")
                body: dict[str, Any] = await response.json()
                return body
        except (OSError, TimeoutError) as exc:
            raise PeerFailed(f"worker {url} did not answer: {exc!r}") from exc

    return list(await asyncio.gather(*(one(u) for u in peer_urls(p))))


def _params(request: Any) -> Query:
    keep = ("region", "aggregate", "hosts", "image")
    return {k: request.query[k] for k in keep if request.query.get(k)}


def _sorted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda a: (a["region"], a["name"] or "", a["uuid"]))


def aggregates_named(
    inv: Inventory, name: str | None, region: str | None
) -> list[Membership] | None:
    """The live aggregates whose uuid or name is ``name`` (None: no filter asked)."""
    if not name:
        return None
    return [m for m in inv.store.memberships(region) if not m.deleted and name in (m.uuid, m.name)]


def local_images(
    p: Any, inv: Inventory, image: str | None, q: Query, aggs: list[Membership] | None
) -> list[dict[str, Any]]:
    """Summaries of the (region, image) pairs in this worker's partitions; with an aggregate,
    about its hosts only; with ``hosts``, every host's row (and the aggregate's members)."""
    owned = owned_partitions(p)
    region = q.get("region")
    detail = bool(q.get("hosts"))
    out = []
    for key in inv.store.image_keys(owned):
        r, i = key
        if (image is not None and i != image) or (region is not None and r != region):
            continue
        candidates = aggs if aggs is not None else list(inv.store.memberships(r))
        in_region = [m for m in candidates if m.region == r and not m.deleted]
        if aggs is not None and not in_region:
            continue
        entries = inv.store.entries(key)
        if aggs is not None:
            members = set().union(*(inv.store.member_set(m) for m in in_region))
            entries = {h: e for h, e in entries.items() if h in members}
        summary = {"region": r, "image": i, **cached_summary(inv, key, entries, in_region, aggs)}
        if detail:
            summary["hosts"] = [view(entries[h], inv.policy) for h in sorted(entries)]
            if aggs is not None:
                for agg, m in zip(summary["aggregates"], in_region, strict=True):
                    agg["members"] = sorted(m.hosts)
        out.append(summary)
    return out


def cached_summary(
    inv: Inventory,
    key: tuple[str, str],
    entries: dict[str, Any],
    memberships: list[Membership],
    aggs: list[Membership] | None,
) -> dict[str, Any]:
    """:func:`summarize`, kept until the image's entries or any membership change: the
    inventory changes far less often than it is read."""
    version = inv.store.versions(key)
    ask = (key, None if aggs is None else tuple(sorted(m.key for m in aggs)))
    hit = inv.summaries.get(ask)
    if hit is not None and hit[0] == version:
        return {**hit[1], "aggregates": [dict(a) for a in hit[1]["aggregates"]]}
    summary = summarize(entries.values(), memberships, inv.policy, key[0], inv.store.member_set)
    if len(inv.summaries) > SUMMARIES_KEPT:
        inv.summaries.clear()
    inv.summaries[ask] = (version, summary)
    return {**summary, "aggregates": [dict(a) for a in summary["aggregates"]]}


SUMMARIES_KEPT = 10_000


def local_host_rows(p: Any, inv: Inventory, host: str, region: str | None) -> list[dict[str, Any]]:
    owned = owned_partitions(p)
    rows = []
    for r in inv.store.regions_of_host(host):
        if region is not None and r != region:
            continue
        for image in sorted(inv.store.host_images(r, host)):
            if inv.store.partition_of((r, image)) in owned:
                entry = inv.store.entries((r, image)).get(host)
                if entry is not None:
                    rows.append(view(entry, inv.policy))
    return rows
