"""Builders of derived CloudEvents for the watcher's tests, built through the contract's models
(precache.contract), so every event they produce is one the worker could publish.

Every builder returns the event as a dict (what goes on the wire, JSON); ``decoded`` turns it
into the watcher's own record.
"""

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.synthetic import SyntheticOperation
from precache.contract import EventType, HostFailedData, OperationData, canonical_time
from precache.contract.events import MODELS
from precache.contract.kafka_binding import HEADERS
from precache.watch.events import Event, read

REGION = "RegionOne"
IMAGE = "c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2"
AGGREGATE = {"uuid": "cf6aa111-cade-4477-a185-a5c869bc3954", "name": "my-application", "id": 2}
T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
NAMESPACE = uuid.UUID("0b0e6a53-5f4e-4c1c-9a57-3d0c2a5e8f21")


def operation_id(request_id: str, region: str = REGION, aggregate: dict[str, Any] | None = None):
    return f"{region}/{(aggregate or AGGREGATE)['uuid']}/{request_id}"


def snapshot(
    request_id: str = "req-1",
    *,
    total: int = 95,
    reported: int = 0,
    failed_hosts: Iterable[str] = (),
    truncated: bool = False,
    hosts_failed: int | None = None,
    missing_hosts: Iterable[str] = (),
    state: str = "running",
    duration_s: float = 0.0,
    region: str = REGION,
    aggregate: dict[str, Any] | None = None,
    images: Iterable[str] = (IMAGE,),
    started_at: datetime = T0,
) -> dict[str, Any]:
    """``data`` of status / completed / stalled events."""
    failed = list(failed_hosts)
    n_failed = len(failed) if hosts_failed is None else hosts_failed
    images = list(images)
    completed = state == "completed"
    outcome = None
    if completed:
        outcome = "succeeded" if n_failed == 0 else ("failed" if n_failed == total else "partial")
    end = started_at + timedelta(seconds=duration_s)
    data = OperationData.model_validate(
        {
            "operation_id": operation_id(request_id, region, aggregate),
            "request_id": request_id,
            "global_request_id": None,
            "region": region,
            "aggregate": aggregate or AGGREGATE,
            "images": images,
            "images_truncated": False,
            "hosts_total": total,
            "hosts_reported": reported,
            "hosts_failed": n_failed,
            "hosts_held": 0,
            "percent": 100.0 if completed else (round(100 * reported / total, 2) if total else 0),
            "failed_hosts": failed,
            "failed_hosts_truncated": truncated,
            "image_failures": {i: n_failed for i in images} if n_failed else {},
            "image_failures_truncated": False,
            "missing_hosts": list(missing_hosts),
            "missing_hosts_truncated": False,
            "state": state,
            "outcome": outcome,
            "started_at": canonical_time(started_at),
            "updated_at": canonical_time(end),
            "completed_at": canonical_time(end) if completed else None,
            "duration_s": duration_s,
            "stalls": 1 if state == "stalled" else 0,
            "version": reported,
        }
    )
    wire: dict[str, Any] = data.model_dump(mode="json")
    return wire


def cloudevent(kind: str, data: dict[str, Any], *, salt: str = "") -> dict[str, Any]:
    """The envelope, through the contract's model; the id is deterministic over type and data,
    as the pipeline's is."""
    event_type = EventType(kind)
    name = orjson.dumps([kind, data, salt], option=orjson.OPT_SORT_KEYS).decode()
    event = MODELS[event_type].model_validate(
        {
            "specversion": "1.0",
            "id": uuid.uuid5(NAMESPACE, name),
            "source": f"/precache/{data['region']}",
            "type": event_type,
            "subject": data["operation_id"],
            "partitionkey": data["operation_id"],
            "time": data.get("updated_at") or data.get("at"),
            "datacontenttype": "application/json",
            "data": data,
        }
    )
    wire: dict[str, Any] = event.model_dump(mode="json")
    return wire


def status(request_id: str = "req-1", **kw: Any) -> dict[str, Any]:
    return cloudevent("precache.operation.status", snapshot(request_id, **kw))


def completed(request_id: str = "req-1", **kw: Any) -> dict[str, Any]:
    return cloudevent("precache.operation.completed", snapshot(request_id, state="completed", **kw))


def stalled(request_id: str = "req-1", **kw: Any) -> dict[str, Any]:
    return cloudevent("precache.operation.stalled", snapshot(request_id, state="stalled", **kw))


def host_failed(
    host: str, request_id: str = "req-1", *, region: str = REGION, reason: str = "image_failed"
) -> dict[str, Any]:
    data = HostFailedData.model_validate(
        {
            "operation_id": operation_id(request_id, region),
            "request_id": request_id,
            "global_request_id": None,
            "region": region,
            "aggregate": AGGREGATE,
            "host": host,
            "images_failed": [IMAGE] if reason == "image_failed" else [],
            "images_failed_truncated": False,
            "images_cached": [],
            "images_cached_truncated": False,
            "reason": reason,
            "at": canonical_time(T0 + timedelta(seconds=30)),
        }
    )
    return cloudevent("precache.host.failed", data.model_dump(mode="json"))


def completed_for(
    op: SyntheticOperation, event_id: str | None = None, **data: Any
) -> dict[str, Any]:
    """The completed event of a synthetic operation, every host reported (``data`` overrides
    fields), through the contract's model."""
    op_id = f"{op.region}/{op.aggregate_uuid}/{op.request_id}"
    failed = sorted(op.failed)
    body = {
        "operation_id": op_id,
        "request_id": op.request_id,
        "global_request_id": None,
        "region": op.region,
        "aggregate": {"uuid": op.aggregate_uuid, "name": None, "id": None},
        "images": list(op.images),
        "images_truncated": False,
        "hosts_total": len(op.hosts),
        "hosts_reported": len(op.hosts),
        "hosts_failed": len(failed),
        "hosts_held": 0,
        "percent": 100.0,
        "failed_hosts": failed,
        "failed_hosts_truncated": False,
        "image_failures": {i: len(failed) for i in op.images} if failed else {},
        "image_failures_truncated": False,
        "missing_hosts": [],
        "missing_hosts_truncated": False,
        "state": "completed",
        "outcome": "partial" if failed else "succeeded",
        "started_at": "2026-11-29T10:00:00.000000Z",
        "updated_at": "2026-11-29T10:00:00.500000Z",
        "completed_at": "2026-11-29T10:00:00.500000Z",
        "duration_s": 0.5,
        "stalls": 0,
        "version": 1,
        **data,
    }
    event = MODELS[EventType.COMPLETED].model_validate(
        {
            "specversion": "1.0",
            "id": event_id or str(uuid.uuid4()),
            "source": f"/precache/{op.region}",
            "type": EventType.COMPLETED,
            "subject": op_id,
            "partitionkey": op_id,
            "time": body["updated_at"],
            "datacontenttype": "application/json",
            "data": body,
        }
    )
    wire: dict[str, Any] = event.model_dump(mode="json")
    return wire


def announcement(request_id: str = "req-1") -> list[dict[str, Any]]:
    """Nova's example: 95 hosts of my-application, guaranine2-9 fail, 2m31s.

    The status topic gets a snapshot after every host, the failed ones as host.failed events,
    and the final state on status and completed.
    """
    failing = [f"guaranine{i}" for i in range(2, 10)]
    events: list[dict[str, Any]] = [status(request_id, reported=0)]
    for n in range(1, 96):
        failed = [h for h in failing if int(h.removeprefix("guaranine")) <= n]
        events.append(status(request_id, reported=n, failed_hosts=failed, duration_s=n * 1.5))
        if f"guaranine{n}" in failing:
            events.append(host_failed(f"guaranine{n}", request_id))
    final: dict[str, Any] = {"reported": 95, "failed_hosts": failing, "duration_s": 151.0}
    final_status = snapshot(request_id, state="completed", **final)
    events.append(cloudevent("precache.operation.status", final_status))
    events.append(completed(request_id, **final))
    return events


ANNOUNCEMENT_OUTPUT = """\
Image cache started on 95 hosts
Aggregate 'my-application' host 24: 25% complete (8 errors)
Aggregate 'my-application' host 48: 50% complete (8 errors)
Aggregate 'my-application' host 72: 75% complete (8 errors)
Aggregate 'my-application' host 95: 100% complete (8 errors)
Completed 95 hosts, 8 errors in 2m31s
Errors from hosts:
guaranine2
guaranine3
guaranine4
guaranine5
guaranine6
guaranine7
guaranine8
guaranine9
Image c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2 failed 8 times
"""


def decoded(raw: dict[str, Any]) -> Event:
    event = read(orjson.dumps(raw))
    assert event is not None
    return event


TOPIC_ENV = {
    "status_topic": "PRECACHE_STATUS_TOPIC",
    "completed_topic": "PRECACHE_COMPLETED_TOPIC",
    "host_failed_topic": "PRECACHE_HOST_FAILED_TOPIC",
    "stalled_topic": "PRECACHE_STALLED_TOPIC",
}

TOPIC_OF = {
    "precache.operation.status": "status_topic",
    "precache.operation.completed": "completed_topic",
    "precache.host.failed": "host_failed_topic",
    "precache.operation.stalled": "stalled_topic",
}


async def produce(bootstrap: str, topics: dict[str, str], events: list[dict[str, Any]]) -> None:
    """Sends each event to its topic (``topics``: TopicNames field -> name), key = operation."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for raw in events:
            topic = topics[TOPIC_OF[raw["type"]]]
            await producer.send(
                topic, orjson.dumps(raw), key=raw["partitionkey"].encode(), headers=list(HEADERS)
            )
        await producer.flush()
    finally:
        await producer.stop()


async def create_topics(bootstrap: str, topics: dict[str, str], partitions: int = 3) -> None:
    """The derived topics as the pipeline creates them: several partitions, status compacted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=1,
                    topic_configs={"cleanup.policy": "compact"} if field == "status_topic" else {},
                )
                for field, name in topics.items()
            ]
        )
    finally:
        await admin.close()
