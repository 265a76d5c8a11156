"""Read-only HTTP view of the rollouts: ``GET /rollouts`` (``?region=``, ``?aggregate=``, each
repeatable: any of them) and ``GET /rollouts/{region}/{aggregate}`` (uuid or name).

Scatter and gather, as the inventory: the worker asked answers from the partitions of
``precache.rollout`` it owns and adds what every other worker answers with ``?local=1``; while
its table is recovering, or when a peer does not answer, the whole request is 503: a rollout
that re-derives its retry counts from a partial answer would retry a target once more.
"""

import urllib.parse
from typing import Any

from precache.pipeline.inventory_web import PeerFailed, ask_peers
from precache.pipeline.rollout_agent import Rollouts
from precache.pipeline.rollouts import Record, matches, view


def attach(p: Any, r: Rollouts) -> None:
    app = p.app

    async def gather(request: Any, query: list[tuple[str, str]]) -> list[Record]:
        if request.query.get("local"):
            return []
        found: list[Record] = []
        path = "/rollouts?" + urllib.parse.urlencode([("local", "1"), *query])
        for body in await ask_peers(p, path):
            found.extend(body.get("rollouts", []))
        return found

    def local(regions: list[str], aggregates: list[str]) -> list[Record]:
        owned = owned_partitions(p)
        return [
            view(record) for record in r.store.records(owned)
            if matches(record, regions, aggregates)
        ]  # fmt: skip

    async def collect(request: Any, regions: list[str], aggregates: list[str]) -> list[Record]:
        """Every worker's matching targets; :class:`PeerFailed` when one cannot say."""
        if not r.store.ready:
            raise PeerFailed("rollouts are recovering, ask again")
        query = [("region", x) for x in regions] + [("aggregate", x) for x in aggregates]
        found = local(regions, aggregates) + await gather(request, query)
        found.sort(key=lambda t: (t["region"], t["aggregate"].get("name") or "",
                                  t["aggregate"]["uuid"]))  # fmt: skip
        return found

    async def list_rollouts(view_: Any, request: Any) -> Any:
        regions, aggregates = (
            request.query.getall("region", []),
            request.query.getall("aggregate", []),
        )
        try:
            found = await collect(request, regions, aggregates)
        except PeerFailed as exc:
            return view_.json({"error": str(exc)}, status=503)
        return view_.json({"rollouts": found, "count": len(found)})

    async def get_target(view_: Any, request: Any, region: str, aggregate: str) -> Any:
        try:
            found = await collect(request, [region], [aggregate])
        except PeerFailed as exc:
            return view_.json({"error": str(exc)}, status=503)
        if not found:
            return view_.json(
                {"error": "not found", "region": region, "aggregate": aggregate}, status=404
            )
        if len(found) == 1:
            return view_.json(found[0])
        return view_.json({"rollouts": found, "count": len(found)})  # one name, several uuids

    app.page("/rollouts", name="rollouts-list")(list_rollouts)
    app.page("/rollouts/", name="rollouts-list-slash")(list_rollouts)
    app.page("/rollouts/{region:[^/]+}/{aggregate:[^/]+}", name="rollouts-detail")(get_target)


def owned_partitions(p: Any) -> set[int]:
    topic = p.settings.rollout_topic
    return {tp.partition for tp in p.app.consumer.assignment() if tp.topic == topic}
