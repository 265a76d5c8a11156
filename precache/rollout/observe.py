"""What the reconciler reads each pass from a worker's HTTP view (any worker answers for all):
per target the inventory rows of its hosts (``GET /aggregates/{uuid}``), and the operations
(``GET /operations``) to know what is in flight and to follow ours by request id.

Both come from the worker's changelog tables, i.e. from Kafka: a restarted rollout or keep-warm
re-derives everything from them (plus Nova's answer of each aggregate's hosts).
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

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


def operations(settings: RolloutSettings) -> list[dict[str, Any]]:
    body = client.get(settings, "/operations")
    return list((body or {}).get("operations", []))


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
