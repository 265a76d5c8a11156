"""CloudEvents built from the engine's state validate against the committed schemas."""

from typing import Any

import orjson

from bench.synthetic import SyntheticOperation, hostnames
from precache.pipeline import engine, events
from precache.pipeline.operation import Effect, Limits, Summary
from tests.support.dict_store import DictStore
from tests.support.notifications import notification
from tests.support.schemas import validate


def wire(summary: Summary, effect: Effect) -> dict[str, Any]:
    """The event as a consumer reads it: the JSON the worker publishes."""
    event: dict[str, Any] = orjson.loads(events.encode(summary, effect))
    return event


def test_every_event_type_validates_and_ids_are_deterministic():
    op = SyntheticOperation(
        hosts=hostnames(3), images=["i1"], failed={"guaranine2": ["i1"]}, silent={"guaranine3"}
    )
    store, limits = DictStore(), Limits(grace_period_s=10, stall_after_s=1)
    built = []
    for offset, record in enumerate(op.records()):
        step = engine.process(notification(record), offset, 0, 0.0, store, limits)
        engine.commit(step, store)
        built += [wire(store.summary[step.op_id], e) for e in step.effects]
    (stalled,) = engine.tick(0, 1.0, store, limits)
    assert stalled.summary is not None
    built.append(wire(stalled.summary, Effect("stalled")))
    (final,) = engine.tick(0, 10.0, store, limits)
    assert final.summary is not None
    built += [wire(final.summary, e) for e in final.effects]
    for event in built:
        validate(event)
    types = {e["type"] for e in built}
    assert types == set(events.TYPES.values())
    completed = next(e for e in built if e["type"] == "precache.operation.completed")
    assert completed["data"]["missing_hosts"] == ["guaranine3"]
    assert completed["data"]["failed_hosts"] == ["guaranine2", "guaranine3"]
    assert completed["source"] == "/precache/region-a"
    again = wire(final.summary, Effect("completed"))
    assert again["id"] == completed["id"]
