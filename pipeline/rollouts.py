"""What the worker keeps of ``precache rollout`` and ``keep-warm``, from their events on
``precache.rollout``: per target (region, aggregate uuid) the requests made and the latest
state. Pure (no faust), so the rules are tested in milliseconds and the agent only moves
records.

A target's record is plain JSON (the changelog keeps it as is)::

    {"region", "aggregate": {"uuid", "name", "id"}, "cloud", "images",
     "requests": [{"mode", "goal", "request_id", "global_request_id", "attempt", "images",
                   "reasons", "cloud", "at"}, ...],     # the newest MAX_REQUESTS, by time
     "requests_total": n,
     "settled": {mode: {"state", "goal", "at", "reasons", "images"}},  # the newest ready/failed
     "latest": {"kind", "mode", "state", "at", "reasons"}}      # the newest event of all

Merging is by the events' own times (``at``: the loop's clock), never by arrival, and a request
already kept (its ``global_request_id``) or a settlement no newer than the kept one changes
nothing: redelivery after a crash is harmless.

The *open series* of a mode (:func:`open_series`) is what the loop re-derives its retry count
from after a restart: the requests of that mode made after its last ``ready`` or ``failed``,
and after the last request for another goal (the events' ``goal``: what the command wanted of
the target, images and gate). A rollout killed mid-way leaves its series open (the rerun
continues it if it wants the same); a rollout that ended closed it (a rerun starts anew);
keep-warm's ``ready`` closes it at each refresh window; a request for another goal closes it
too: attempts at other images say nothing of how these will fare. Records written before
``goal`` existed have none (``None``, a goal of its own).
"""

import json
from typing import Any

from pydantic import ValidationError

from precache.contract.events import (
    EventType,
    RolloutRequestEvent,
    RolloutTargetEvent,
)

MAX_REQUESTS = 20  # per target: the history shown; the open series needs far fewer
BAD_RECORD = "bad_rollout_record"
UNKNOWN_TYPE = "unknown_rollout_event"
KEY_MISMATCH = "rollout_key_mismatch"

Event = RolloutRequestEvent | RolloutTargetEvent
Record = dict[str, Any]
_MODELS: dict[str, type[Event]] = {
    EventType.ROLLOUT_REQUEST.value: RolloutRequestEvent,
    EventType.ROLLOUT_TARGET.value: RolloutTargetEvent,
}


class BadRollout(ValueError):
    """A record of the rollout topic that is not a rollout event: ``reason`` for the dead
    letter's header, ``str()`` for its error."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.reason = reason


def decode(key: bytes | None, value: bytes | None) -> Event:
    """A record of ``precache.rollout`` as its typed event; :class:`BadRollout` otherwise.

    The record key must be the event's ``region/aggregate uuid``: the key picks the partition,
    and a target split over two partitions would have two records."""
    if not value:
        raise BadRollout(BAD_RECORD, "empty value")
    try:
        doc = json.loads(value)
    except ValueError as exc:
        raise BadRollout(BAD_RECORD, f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRollout(BAD_RECORD, f"not a JSON object but {type(doc).__name__}")
    model = _MODELS.get(str(doc.get("type")))
    if model is None:
        raise BadRollout(UNKNOWN_TYPE, f"type {doc.get('type')!r} is no rollout event")
    try:
        event = model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise BadRollout(BAD_RECORD, f"{where}: {first['msg']}") from None
    want = target_key(event.data.region, event.data.aggregate.uuid)
    got = (key or b"").decode(errors="replace")
    if got != want:
        raise BadRollout(KEY_MISMATCH, f"record key {got!r} is not {want!r}")
    return event


def target_key(region: str, aggregate_uuid: str) -> str:
    return f"{region}/{aggregate_uuid}"


def merge(record: Record | None, event: Event) -> Record | None:
    """``record`` with ``event`` applied, a new dict; None when it changes nothing."""
    d = event.data
    base: Record = record or {
        "region": d.region,
        "aggregate": d.aggregate.model_dump(mode="json"),
        "cloud": None,
        "images": [],
        "requests": [],
        "requests_total": 0,
        "settled": {},
        "latest": None,
    }
    out = {**base, "requests": list(base["requests"]), "settled": dict(base["settled"])}
    if isinstance(event, RolloutRequestEvent):
        r = event.data
        if any(q["global_request_id"] == r.global_request_id for q in base["requests"]):
            return None
        out["requests"].append(
            {"mode": r.mode, "goal": r.goal, "request_id": r.request_id,
             "global_request_id": r.global_request_id,
             "attempt": r.attempt, "images": list(r.images), "reasons": list(r.reasons),
             "cloud": r.cloud, "at": r.at}
        )  # fmt: skip
        out["requests"].sort(key=lambda q: q["at"])
        del out["requests"][:-MAX_REQUESTS]
        out["requests_total"] = base["requests_total"] + 1
        latest = {
            "kind": "request", "mode": r.mode, "state": "requested", "at": r.at,
            "reasons": list(r.reasons), "images": list(r.images), "cloud": r.cloud,
        }  # fmt: skip
    else:
        t = event.data
        kept = base["settled"].get(t.mode)
        if kept is not None and kept["at"] >= t.at:
            return None
        out["settled"][t.mode] = {
            "state": t.state, "goal": t.goal, "at": t.at, "reasons": list(t.reasons),
            "images": list(t.images),
        }  # fmt: skip
        latest = {
            "kind": "target", "mode": t.mode, "state": t.state, "at": t.at,
            "reasons": list(t.reasons), "images": list(t.images),
        }  # fmt: skip
    if base["latest"] is None or base["latest"]["at"] <= latest["at"]:
        out["latest"] = {k: v for k, v in latest.items() if k not in ("images", "cloud")}
        out["aggregate"] = d.aggregate.model_dump(mode="json")  # the newest name
        if latest["kind"] == "request":
            out["images"], out["cloud"] = latest["images"], latest["cloud"]
    return out


def open_series(record: Record, mode: str) -> Record | None:
    """The requests of ``mode`` after its last ready/failed and after the last one for another
    goal (module doc); None when none.

    ``attempts`` is the count of those requests, or the highest attempt number among them if
    higher (older requests of the series may have left the kept history). ``since``: when the
    series began after what closed the one before (that settlement or that other goal's
    request), None when nothing did."""
    settled = record["settled"].get(mode)
    since = settled["at"] if settled else None
    after = [
        q for q in record["requests"]
        if q["mode"] == mode and (since is None or q["at"] > since)
    ]  # fmt: skip
    if not after:
        return None
    goal = after[-1].get("goal")  # records from before goals have no such key
    series: list[Record] = []
    for q in reversed(after):
        if q.get("goal") != goal:
            since = q["at"]
            break
        series.append(q)
    series.reverse()
    return {
        "goal": goal,
        "attempts": max(len(series), max(q["attempt"] for q in series)),
        "since": since,
        "last_request_at": series[-1]["at"],
        "request_ids": [q["request_id"] or q["global_request_id"] for q in series],
    }


def view(record: Record) -> Record:
    """A target as ``GET /rollouts`` serves it."""
    latest = record["latest"] or {}
    modes = sorted({q["mode"] for q in record["requests"]} | set(record["settled"]))
    series = {m: s for m in modes if (s := open_series(record, m)) is not None}
    return {
        "region": record["region"],
        "aggregate": record["aggregate"],
        "cloud": record["cloud"],
        "images": record["images"],
        "state": latest.get("state"),
        "mode": latest.get("mode"),
        "state_at": latest.get("at"),
        "reasons": latest.get("reasons", []),
        "settled": record["settled"],
        "open": series,
        "requests": record["requests"],
        "requests_total": record["requests_total"],
    }


def matches(record: Record, regions: list[str], aggregates: list[str]) -> bool:
    """The ``/rollouts`` filters: any of the regions, any of the aggregates (uuid or name)."""
    if regions and record["region"] not in regions:
        return False
    agg = record["aggregate"]
    return not aggregates or agg["uuid"] in aggregates or agg.get("name") in aggregates
