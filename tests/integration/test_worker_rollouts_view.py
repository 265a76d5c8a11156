"""The worker's views that serve precache rollout and keep-warm, with two workers sharing the
partitions: ``GET /rollouts`` from the events on ``precache.rollout`` (bad records dead-lettered
with their reason, the worker unharmed), and ``GET /operations``'s filters."""

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from bench.synthetic import Record, SyntheticOperation, hostnames
from precache.pipeline.rollouts import Event
from precache.pipeline.settings import WorkerSettings
from tests.support.inventory import wait_for
from tests.support.kafka import produce, read_raw
from tests.support.rollout_events import record, request, target
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

Start = Callable[[WorkerSettings], WorkerProcess]


async def two_workers(
    worker_settings: Callable[..., Awaitable[WorkerSettings]], start_worker: Start
) -> tuple[WorkerProcess, WorkerProcess]:
    first = start_worker(await worker_settings())
    second = start_worker(await worker_settings())  # same group and topics, own port
    first.wait_ready(partitions=2)
    second.wait_ready(partitions=2)
    return first, second


def covering(partitions: int, count: int) -> list[str]:
    """``count`` aggregate uuids whose raw records (keyed by the uuid, murmur2 as the producer
    partitions them) land on every one of ``partitions``: random ones left a worker with no
    operation of its own about once in 30 runs."""
    every = list(range(partitions))
    found: list[str] = []
    while len(found) < count:
        candidate = str(uuid.uuid4())
        if DefaultPartitioner()(candidate.encode(), every, every) == len(found) % partitions:
            found.append(candidate)
    return found


def aggregate(i: int) -> dict[str, object]:
    return {"uuid": f"00000000-0000-4000-8000-{i:012d}", "name": f"agg-{i}", "id": i}


async def test_rollouts_from_either_worker_and_bad_records_dead_lettered(
    worker_settings: Callable[..., Awaitable[WorkerSettings]], start_worker: Start
) -> None:
    a, b = await two_workers(worker_settings, start_worker)
    settings = a.settings
    aggs = [aggregate(i) for i in range(8)]  # keyed region/uuid: spread over the partitions
    events: list[Event] = []
    for agg in aggs:
        events += [request(1, 1, aggregate=agg), request(5, 2, aggregate=agg)]
    events += [target(9, "failed", aggregate=aggs[0]), target(9, "ready", aggregate=aggs[1])]
    events += [request(20, 1, "keep-warm", aggregate=aggs[1])]
    good: list[Record] = [(*record(e), []) for e in events]
    good += good[:3]  # delivered twice: changes nothing
    _, sample = record(request(1, aggregate=aggs[2]))
    bad: list[Record] = [
        (b"eu-1/x", b"{not json", []),
        (b"eu-1/x", json.dumps({"type": "precache.operation.status"}).encode(), []),
        (b"eu-1/wrong-key", sample, []),
    ]
    await produce(settings.kafka_bootstrap, settings.rollout_topic, bad[:2] + good + bad[2:])

    def whole(status: int, body: Any) -> bool:
        return (
            status == 200
            and body["count"] == len(aggs)
            and all(
                t["requests_total"] == (3 if t["aggregate"]["name"] == "agg-1" else 2)
                for t in body["rollouts"]
            )
        )

    status_a, body_a = a.get_when("/rollouts", whole, 60)
    status_b, body_b = b.get_when("/rollouts", whole, 60)
    assert status_a == status_b == 200, (body_a, body_b)
    assert body_a == body_b
    shares = [w.get("/rollouts?local=1")[1]["count"] for w in (a, b)]
    assert sum(shares) == len(aggs)
    assert 0 not in shares  # each worker holds some: the answers above were gathered
    targets = {t["aggregate"]["name"]: t for t in body_a["rollouts"]}
    failed, warm, open_ = targets["agg-0"], targets["agg-1"], targets["agg-2"]
    assert failed["state"] == "failed"
    assert [q["attempt"] for q in failed["requests"]] == [1, 2]
    assert failed["open"] == {}  # closed by the failure: a rerun starts anew
    assert warm["settled"]["rollout"]["state"] == "ready"
    assert (warm["state"], warm["mode"]) == ("requested", "keep-warm")
    assert warm["open"]["keep-warm"]["attempts"] == 1
    assert open_["state"] == "requested"
    assert open_["open"]["rollout"]["attempts"] == 2  # what a killed rollout's rerun counts
    assert open_["open"]["rollout"]["request_ids"] == [q["request_id"] for q in open_["requests"]]

    # one target, by region and name (or uuid), from either worker; filters; unknown: 404
    for worker in (a, b):
        assert worker.get("/rollouts/eu-1/agg-2") == (200, open_)
        assert worker.get(f"/rollouts/eu-1/{aggs[2]['uuid']}") == (200, open_)
        assert worker.get("/rollouts/us-1/agg-2")[0] == 404
        _, some = worker.get("/rollouts?aggregate=agg-0&aggregate=agg-3")
        assert [t["aggregate"]["name"] for t in some["rollouts"]] == ["agg-0", "agg-3"]
        assert worker.get("/rollouts?region=us-1") == (200, {"rollouts": [], "count": 0})

    dead = await read_raw(settings.kafka_bootstrap, settings.pipeline_dlq_topic, 3)
    reasons = sorted(dict(r.headers)["reason"].decode() for r in dead)
    assert reasons == ["bad_rollout_record", "rollout_key_mismatch", "unknown_rollout_event"]
    assert {dict(r.headers)["source_topic"].decode() for r in dead} == {settings.rollout_topic}

    def counts() -> dict[str, int]:
        each = [w.stats()["rollout_events"] for w in (a, b)]  # type: ignore[index]
        return {k: sum(c[k] for c in each) for k in ("applied", "unchanged", "dead")}

    seen = await wait_for(counts, lambda c: c["applied"] + c["unchanged"] == len(good), 30)
    assert seen == {"applied": len(events), "unchanged": 3, "dead": 3}  # the 3 sent twice
    for worker in (a, b):  # bad records stop nothing
        assert worker.proc is not None
        assert worker.proc.poll() is None


async def test_operations_filters_from_either_worker(
    worker_settings: Callable[..., Awaitable[WorkerSettings]], start_worker: Start
) -> None:
    a, b = await two_workers(worker_settings, start_worker)
    settings = a.settings
    hosts = hostnames(3)
    uuids = covering(settings.raw_partitions, 6)  # each worker holds some: both share
    done = [
        SyntheticOperation(hosts=hosts, images=["i"], region=r, aggregate_uuid=uuids.pop(),
            started=SyntheticOperation(hosts=[], images=[]).started + timedelta(minutes=m))
        for r, m in (("eu-1", 0), ("eu-1", 10), ("us-1", 20), ("us-1", 30))
    ]  # fmt: skip
    running = [
        SyntheticOperation(hosts=hosts, images=["i"], region=r, aggregate_uuid=uuids.pop())
        for r in ("eu-1", "us-1")
    ]
    records = [r for op in done for r in op.records()]
    records += [r for op in running for r in [op.start(), op.progress(hosts[0], 1)]]
    await produce(settings.kafka_bootstrap, settings.raw_topic, records)
    everything = len(done) + len(running)
    a.get_when("/operations", lambda s, body: body["count"] == everything, 60)

    def ids(worker: WorkerProcess, query: str) -> set[str]:
        status, body = worker.get(f"/operations?{query}")
        assert status == 200, body
        assert body["count"] == len(body["operations"])
        return {o["operation_id"] for o in body["operations"]}

    since = done[1].started.strftime("%Y-%m-%dT%H:%M:%SZ")
    cases = {
        "state=running": {o.operation_id for o in running},
        "state=completed&region=us-1": {done[2].operation_id, done[3].operation_id},
        "region=eu-1&state=running&state=completed": {
            done[0].operation_id, done[1].operation_id, running[0].operation_id,
        },
        f"request_id={done[0].request_id}&request_id={running[1].request_id}": {
            done[0].operation_id, running[1].operation_id,
        },
        f"aggregate={done[3].aggregate_uuid}": {done[3].operation_id},
        f"completed_since={since}": {o.operation_id for o in done[1:]},
        f"completed_since={since}&region=eu-1": {done[1].operation_id},
    }  # fmt: skip
    shares = [ids(w, "local=1") for w in (a, b)]
    assert set() not in shares
    for worker in (a, b):  # each owns half the partitions: the filters reach the other
        assert len(ids(worker, "")) == everything
        for query, want in cases.items():
            assert ids(worker, query) == want, (worker.url, query)
        status, body = worker.get("/operations?state=done")
        assert status == 400
        assert body == {"error": "state: 'done' is not one of completed, running, stalled"}
