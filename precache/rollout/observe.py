"""What the reconciler reads from a worker's HTTP view (any worker answers for all): each pass,
per target the inventory rows of its hosts (``GET /aggregates/{uuid}``) and the operations it
needs (``GET /operations`` filtered: what runs or just completed in the policy's regions, and
ours by request id, to follow them); at its start, what rollout and keep-warm did before
(``GET /rollouts``: the requests of each target, for its retry count).

All come from the worker's changelog tables, i.e. from Kafka: a restarted rollout or keep-warm
re-derives everything from them (plus Nova's answer of each aggregate's hosts).
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from precache.contract.events import canonical_time
from precache.images import client
from precache.pipeline.inventory import parse_time
from precache.rollout.planner import InFlight, Observed, Wanted
from precache.rollout.settings import RolloutSettings

Operation = Mapping[str, Any]  # OperationData as the worker serves it


def observe(settings: RolloutSettings, wanted: Wanted, members: Sequence[str]) -> Observed:
    """The inventory's rows of ``members`` for each wanted image. An aggregate the inventory
    does not know yet (404: no operation or membership notification seen) has no rows."""
    body = client.get(settings, f"/aggregates/{wanted.aggregate_uuid}", region=wanted.key.region)
    rows: dict[str, list[dict[str, Any]]] = {image: [] for image in wanted.images}
    hosts = set(members)
    for summary in (body or {}).get("images", []):
        if summary["image"] in rows and summary["region"] == wanted.key.region:
            rows[summary["image"]].extend(r for r in summary.get("hosts", []) if r["host"] in hosts)
    return Observed(tuple(members), rows)


def operations(
    settings: RolloutSettings, regions: Sequence[str], request_ids: Sequence[str], since: datetime
) -> list[dict[str, Any]]:
    """Only what a pass needs, not every operation the workers hold: those running in
    ``regions``, those completed there since ``since`` (:func:`in_flight`'s settle window),
    and those of ``request_ids`` (ours, followed until completed)."""
    asks: list[dict[str, str | Sequence[str]]] = [
        {"state": "running", "region": regions},
        {"completed_since": canonical_time(since), "region": regions},
    ]
    if request_ids:
        asks.append({"request_id": sorted(set(request_ids))})
    found: dict[str, dict[str, Any]] = {}
    for query in asks:
        body = client.get(settings, "/operations", **query)
        for op in (body or {}).get("operations", []):
            found[op["operation_id"]] = op
    return sorted(found.values(), key=lambda op: (op["started_at"], op["operation_id"]))


def rollouts(settings: RolloutSettings, regions: Sequence[str]) -> list[dict[str, Any]]:
    """The worker's record of every target in ``regions`` (``GET /rollouts``); none from a
    worker that has no such page (404)."""
    body = client.get(settings, "/rollouts", region=regions)
    return list((body or {}).get("rollouts", []))


def in_flight(ops: Iterable[Operation], now: datetime, settle: timedelta) -> list[InFlight]:
    """Running operations, and those completed less than ``settle`` ago. A stalled one is not:
    the worker gave up waiting for its silent hosts, the inventory shows them missing."""
    found = []
    for op in ops:
        state = op.get("state")
        recent = (
            state == "completed"
            and op.get("completed_at") is not None
            and now - parse_time(op["completed_at"]) < settle
        )
        if state == "running" or recent:
            found.append(InFlight(op["region"], op["aggregate"]["uuid"], op.get("request_id")))
    return found


def by_request(ops: Iterable[Operation], request_ids: Iterable[str]) -> dict[str, Operation]:
    """Our operations, followed by Nova's request id."""
    wanted = set(request_ids)
    return {op["request_id"]: op for op in ops if op.get("request_id") in wanted}
