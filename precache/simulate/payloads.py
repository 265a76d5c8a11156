"""Nova's versioned payloads for the aggregate cache notifications, as nova_object dicts."""

from typing import Any

from precache.simulate.plan import SimulationPlan


def aggregate_payload(plan: SimulationPlan) -> dict[str, Any]:
    """``AggregatePayload`` 1.1: what start and end carry (with the aggregate's host list)."""
    return _nova_object(
        "AggregatePayload",
        "1.1",
        {
            "id": plan.aggregate_id,
            "uuid": plan.aggregate_uuid,
            "name": plan.aggregate_name,
            "hosts": plan.host_names(),
            "metadata": {},
            "availability_zone": None,
        },
    )


def cache_progress_payload(
    plan: SimulationPlan, host: str, index: int, cached: list[str], failed: list[str]
) -> dict[str, Any]:
    """``AggregateCachePayload`` 1.0: one host's result, as conductor's host_completed sends it."""
    return _nova_object(
        "AggregateCachePayload",
        "1.0",
        {
            "id": plan.aggregate_id,
            "uuid": plan.aggregate_uuid,
            "name": plan.aggregate_name,
            "host": host,
            "images_cached": cached,
            "images_failed": failed,
            "index": index,
            "total": plan.hosts,
        },
    )


def _nova_object(name: str, version: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "nova_object.name": name,
        "nova_object.namespace": "nova",
        "nova_object.version": version,
        "nova_object.data": data,
    }
