"""The inventory with two workers sharing the partitions: the same answer from either, and
exact after one of them is SIGKILLed in the middle of an operation."""

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from bench.synthetic import SyntheticOperation, hostnames
from precache.pipeline.settings import WorkerSettings
from tests.support.inventory import Rows, image_rows, wait_for
from tests.support.kafka import produce
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

IMAGES = [f"img-{i}" for i in range(6)]  # keyed region/image: spread over the partitions


def expected(ops: list[SyntheticOperation], image: str) -> dict[str, tuple[str, str]]:
    """host -> (state, operation id): the newest operation's result for each host."""
    out: dict[str, tuple[str, str]] = {}
    for op in sorted(ops, key=lambda o: o.started):
        for host in op.hosts:
            if host in op.silent:
                continue
            state = "failed" if image in op.failed.get(host, []) else "cached"
            out[host] = (state, op.operation_id)
    return out


def seen(rows: Rows | None) -> dict[str, tuple[str, str]] | None:
    return None if rows is None else {h: (r["state"], r["operation_id"]) for h, r in rows.items()}


async def settled(
    worker: WorkerProcess, image: str, want: dict[str, tuple[str, str]]
) -> Rows | None:
    """The image's rows once the worker shows ``want`` (or as they are after the wait)."""
    return await wait_for(lambda: image_rows(worker, image), lambda rows: seen(rows) == want, 90)  # type: ignore[no-any-return]


async def test_two_workers_answer_alike_and_a_sigkill_loses_nothing(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> None:
    settings = await worker_settings(session_timeout_s=6.0)
    first = start_worker(settings)
    second = start_worker(await worker_settings(session_timeout_s=6.0))  # own port, data dir
    first.wait_ready(partitions=2)
    second.wait_ready(partitions=2)
    rng = random.Random(7)
    hosts = hostnames(40)
    older = SyntheticOperation(hosts=hosts, images=IMAGES, silent={"guaranine40"})
    newer = SyntheticOperation(
        hosts=hosts,
        images=IMAGES,
        aggregate_uuid=older.aggregate_uuid,
        failed={h: IMAGES[:2] for h in rng.sample(hosts, 6)},
        silent={"guaranine39"},
        started=older.started.replace(hour=20),
    )
    # the newer operation first, the older one after (and a third of it twice): the newest
    # touch must win whatever the arrival order
    records = newer.records(shuffle=rng) + older.records(shuffle=rng)
    records += records[10:40]
    half = len(records) // 2
    await produce(settings.kafka_bootstrap, settings.raw_topic, records[:half])
    first.kill()  # mid-operation: the rest goes to the survivor after the session timeout
    await produce(settings.kafka_bootstrap, settings.raw_topic, records[half:])

    for image in IMAGES:
        want = expected([older, newer], image)
        rows = await settled(second, image, want)
        assert seen(rows) == want, image
        assert rows is not None
        newer_hosts = [h for h, (_, op) in want.items() if op == newer.operation_id]
        assert all(rows[h]["request_id"] == newer.request_id for h in newer_hosts)

    restarted = start_worker(first.settings)  # two workers again, partitions shared
    restarted.wait_ready(partitions=2)
    await asyncio.sleep(1)
    for image in IMAGES:
        want = expected([older, newer], image)
        for worker in (restarted, second):
            rows = await settled(worker, image, want)
            assert seen(rows) == want, (worker.url, image)
    status_a, hosts_a = restarted.get("/hosts/guaranine1")
    status_b, hosts_b = second.get("/hosts/guaranine1")
    assert status_a == status_b == 200
    assert hosts_a == hosts_b
    assert sorted(r["image"] for r in hosts_a["rows"]) == IMAGES
    _, list_a = restarted.get("/images")
    _, list_b = second.get("/images")
    assert list_a == list_b
    assert [s["image"] for s in list_a["images"]] == IMAGES
    assert [s["aggregates"][0]["missing"] for s in list_a["images"]] == [0] * len(IMAGES)
    _, agg_a = restarted.get(f"/aggregates/{older.aggregate_uuid}")
    _, agg_b = second.get(f"/aggregates/{older.aggregate_uuid}")
    assert agg_a == agg_b
    assert agg_a["aggregates"][0]["hosts"] == sorted(hosts)
