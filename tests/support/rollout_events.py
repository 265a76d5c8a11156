"""``precache.rollout.*`` events as rollout and keep-warm publish them, with the times and ids a
test chooses (the product stamps its own clock)."""

import json
import uuid
from typing import Any

from precache.contract.events import RolloutRequestEvent, RolloutTargetEvent

AGGREGATE = {"uuid": "7b1e0000-0000-4000-8000-000000000024", "name": "web", "id": 1}


def at(second: int) -> str:
    return f"2026-12-06T07:00:{second:02d}.000000Z"


def _envelope(kind: str, region: str, aggregate: dict[str, Any], when: str) -> dict[str, Any]:
    key = f"{region}/{aggregate['uuid']}"
    return {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": f"/precache/rollout/{region}",
        "type": kind, "subject": key, "partitionkey": key, "time": when,
        "datacontenttype": "application/json",
    }  # fmt: skip


def request(
    second: int, attempt: int = 1, mode: str = "rollout", region: str = "eu-1",
    aggregate: dict[str, Any] = AGGREGATE, rid: str | None = None,
    goal: str | None = "g1-a",
) -> RolloutRequestEvent:  # fmt: skip
    rid = rid or f"req-{uuid.uuid4()}"
    data = {
        "mode": mode, "goal": goal, "region": region, "aggregate": aggregate,
        "reasons": ["missing on 3 hosts"], "cloud": region, "images": ["img-1"],
        "attempt": attempt, "request_id": rid,
        "global_request_id": f"g-{rid}", "at": at(second),
    }  # fmt: skip
    doc = {**_envelope("precache.rollout.request", region, aggregate, at(second)), "data": data}
    return RolloutRequestEvent.model_validate(doc)


def target(
    second: int, state: str = "ready", mode: str = "rollout", region: str = "eu-1",
    aggregate: dict[str, Any] = AGGREGATE, goal: str | None = "g1-a",
) -> RolloutTargetEvent:  # fmt: skip
    data = {
        "mode": mode, "goal": goal, "region": region, "aggregate": aggregate, "state": state,
        "reasons": [] if state == "ready" else ["failed last time on 1 host"],
        "images": [] if state == "ready" else ["img-1"], "at": at(second),
    }  # fmt: skip
    doc = {**_envelope("precache.rollout.target", region, aggregate, at(second)), "data": data}
    return RolloutTargetEvent.model_validate(doc)


def record(event: RolloutRequestEvent | RolloutTargetEvent) -> tuple[bytes, bytes]:
    """(key, value) as on the topic."""
    return event.subject.encode(), json.dumps(event.model_dump(mode="json")).encode()
