"""``precache rollout`` and ``keep-warm`` on the real chain: openstacksdk -> two Nova API
stand-ins (two regions) -> oslo's Notifier -> RabbitMQ -> a bridge per region -> Kafka -> the
worker's inventory and operations -> the reconciler."""

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from precache.contract.events import MODELS, EventType
from precache.pipeline.settings import WorkerSettings
from tests.support.kafka import read_topic
from tests.support.rollout import (
    IMAGE,
    IMAGE_2,
    IMAGE_2_NAME,
    IMAGE_NAME,
    UNKNOWN_IMAGE,
    Command,
    Fleet,
    add_host,
    two_regions,
)
from tests.support.worker import WorkerProcess, free_port

pytestmark = pytest.mark.integration

FLEET = {
    "region-a": [
        {"id": 1, "name": "web", "hosts": 4},
        {"id": 2, "name": "batch", "hosts": 5, "failing": "2", "failing_requests": 1},
    ],
    "region-b": [{"id": 1, "name": "web", "hosts": 4, "failing": "3"}],
}


def policy(require: str = "100%", in_region_a: str = '"web", "batch"') -> str:
    return f"""
images = ["{IMAGE_NAME}"]

[[target]]
cloud = "cloud-region-a"
region = "region-a"
aggregates = [{in_region_a}]

[[target]]
cloud = "cloud-region-b"
region = "region-b"
aggregates = ["web"]

[pace]
in_flight_per_region = 1
retry_failed = 1
backoff = "1s"

[gate]
require = "{require}"
valid_for = "1h"
"""


FleetOf = Callable[..., AbstractAsyncContextManager[Fleet]]


@pytest.fixture
def fleet_of(
    amqp_url: str,
    tmp_path: Path,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
) -> FleetOf:
    """``fleet_of(aggregates, workers=1, **worker settings)``: the two regions' chain
    (:func:`two_regions`) with these aggregates, and ``workers`` workers sharing the partitions."""

    @asynccontextmanager
    async def make(
        aggregates: dict[str, list[dict[str, Any]]], workers: int = 1, **settings: Any
    ) -> AsyncIterator[Fleet]:
        worker = await worker_settings(**settings)
        others = [await worker_settings(**settings) for _ in range(workers - 1)]
        async with two_regions(
            amqp_url, tmp_path, unique_name, worker, start_worker, aggregates, others
        ) as fleet:
            yield fleet

    return make


def requests(command: Command) -> list[tuple[str, str, int, tuple[str, ...]]]:
    return [
        (e["region"], e["aggregate"], e["attempt"], tuple(e["reasons"]))
        for e in command.of("request")
    ]


async def test_rollout_two_regions_three_aggregates(
    fleet_of: FleetOf,
) -> None:
    async with fleet_of(FLEET) as fleet:
        worker = fleet.worker.settings
        strict = fleet.policy(policy())
        marker = fleet.tmp / "then.log"
        then = (
            'echo "$PRECACHE_TARGET_REGION $PRECACHE_TARGET_AGGREGATE $PRECACHE_TARGET_IMAGES"'
            f" >> {marker}"
        )

        dry = await fleet.run("rollout", str(strict), "--dry-run")
        assert dry.proc.returncode == 0, dry.text()
        assert f"would request {IMAGE} on region-a/web (missing on 4 hosts)" in dry.out
        assert f"would request {IMAGE} on region-b/web (missing on 4 hosts)" in dry.out
        assert "region-a/batch: queued: missing on 5 hosts" in dry.out  # one per region

        first = await fleet.run(
            "rollout", str(strict), "--json", "--then", then, "--timeout", "200"
        )
        assert first.proc.returncode == 1, first.text()
        missing = ("missing on 4 hosts",)
        assert first.of("request"), first.text()
        assert sorted(requests(first)) == [
            ("region-a", "batch", 1, ("missing on 5 hosts",)),
            ("region-a", "batch", 2, ("failed last time on 1 host",)),
            ("region-a", "web", 1, missing),
            ("region-b", "web", 1, missing),
            ("region-b", "web", 2, ("failed last time on 1 host",)),
        ]
        # pace: one operation at a time in region-a, batch only after web's completed
        events = first.events
        web_done = next(
            i for i, e in enumerate(events)
            if e["kind"] == "operation" and e["aggregate"] == "web"
            and e["region"] == "region-a" and e["state"] == "completed"
        )  # fmt: skip
        batch_asked = next(
            i for i, e in enumerate(events) if e["kind"] == "request" and e["aggregate"] == "batch"
        )
        assert web_done < batch_asked
        [summary] = first.of("summary")
        states = {(t["region"], t["aggregate"]): t["state"] for t in summary["targets"]}
        assert states == {
            ("region-a", "web"): "ready",
            ("region-a", "batch"): "ready",
            ("region-b", "web"): "failed",
        }
        [failed] = [t for t in summary["targets"] if t["state"] == "failed"]
        assert failed["reasons"] == ["failed last time on 1 host"]
        assert sorted(marker.read_text().splitlines()) == [
            f"region-a batch {IMAGE}",
            f"region-a web {IMAGE}",
        ]
        assert {e["status"] for e in first.of("then")} == {0}

        # what it did, as precache.rollout.* CloudEvents on Kafka, valid against the contract
        def published(records: list[ConsumerRecord[bytes, bytes]]) -> list[Any]:
            return [MODELS[EventType(json.loads(r.value)["type"])].model_validate_json(r.value)
                    for r in records]  # fmt: skip

        records = await read_topic(
            worker.kafka_bootstrap, worker.rollout_topic, lambda r: len(r) >= 8
        )
        events_ = published(records)
        asked = [e.data for e in events_ if e.type == EventType.ROLLOUT_REQUEST]
        assert sorted((d.region, d.aggregate.name, d.attempt) for d in asked) == sorted(
            (r[0], r[1], r[2]) for r in requests(first)
        )
        assert {d.request_id for d in asked} == {e["request_id"] for e in first.of("request")}
        settled = [e.data for e in events_ if e.type == EventType.ROLLOUT_TARGET]
        assert sorted((d.region, d.aggregate.name, d.state) for d in settled) == [
            ("region-a", "batch", "ready"), ("region-a", "web", "ready"),
            ("region-b", "web", "failed"),
        ]  # fmt: skip
        assert all(r.key == f"{e.subject}".encode() for r, e in zip(records, events_, strict=True))

        # a rerun of a finished rollout (b/web passes at 75%) asks Nova for nothing
        lenient = fleet.policy(policy("75%"), "lenient.toml")
        rerun = await fleet.run("rollout", str(lenient), "--json", "--timeout", "60")
        assert rerun.proc.returncode == 0, rerun.text()
        assert rerun.of("request") == []
        assert {t["state"] for t in rerun.of("summary")[0]["targets"]} == {"ready"}

        # the strict policy again: only b/web is short, retried, fails again: exit 1
        again = await fleet.run("rollout", str(strict), "--json", "--timeout", "120")
        assert again.proc.returncode == 1, again.text()
        assert [(r[0], r[1]) for r in requests(again)] == [("region-b", "web")] * 2

        # a timeout: exit 2
        late = await fleet.run("rollout", str(strict), "--json", "--timeout", "0.5")
        assert late.proc.returncode == 2, late.text()


async def test_a_killed_rollout_reruns_within_its_retries_and_get_rollouts_shows_it(
    fleet_of: FleetOf,
) -> None:
    """Killed after its one retry of a failing target, a rerun counts on from the events in
    Kafka (GET /rollouts): Nova gets 1 + retry_failed requests for it in all, not twice that."""
    aggregates = {
        "region-a": [{"id": 1, "name": "web", "hosts": 4, "failing": "3"}],
        "region-b": [{"id": 1, "name": "web", "hosts": 3}],
    }
    async with fleet_of(aggregates, workers=2) as fleet:
        path = fleet.policy(policy(in_region_a='"web"'))  # retry_failed = 1, backoff 1s
        first = await fleet.start("rollout", str(path), "--json", "--timeout", "200")
        await first.until(lambda c: len(c.of("request", "web", "region-a")) == 2)
        first.signal(signal.SIGKILL)  # its retry in flight
        await first.wait()
        [asked, retried] = first.of("request", "web", "region-a")
        uuid = asked["aggregate_uuid"]

        rerun = await fleet.run("rollout", str(path), "--json", "--timeout", "120")
        assert rerun.proc.returncode == 1, rerun.text()
        assert rerun.of("request", "web", "region-a") == []  # 1 + retry_failed already made
        [summary] = rerun.of("summary")
        states = {(t["region"], t["aggregate"]): t["state"] for t in summary["targets"]}
        assert states == {("region-a", "web"): "failed", ("region-b", "web"): "ready"}
        status, ops = fleet.worker.get(f"/operations?aggregate={uuid}")
        assert status == 200
        assert {o["request_id"] for o in ops["operations"]} == {
            asked["request_id"], retried["request_id"],
        }  # fmt: skip  # what Nova was asked for this target, in all

        # what rollout did, from either worker (each owns a share of the partitions)
        def settled(status: int, body: Any) -> bool:
            return status == 200 and {t["state"] for t in body["rollouts"]} == {"failed", "ready"}

        views = [w.get_when("/rollouts", settled, 30) for w in (fleet.worker, *fleet.others)]
        assert views[0] == views[1]
        status, body = views[0]
        assert status == 200, body
        a, b = body["rollouts"]
        assert (a["region"], a["aggregate"]["uuid"], a["state"]) == ("region-a", uuid, "failed")
        assert [(q["attempt"], q["request_id"]) for q in a["requests"]] == [
            (1, asked["request_id"]), (2, retried["request_id"]),
        ]  # fmt: skip
        assert a["requests"][1]["reasons"] == ["failed last time on 1 host"]
        assert a["settled"]["rollout"]["reasons"] == ["failed last time on 1 host"]
        assert a["open"] == {}  # closed by the failure: a rerun now would start anew
        assert (b["region"], b["state"], b["requests_total"]) == ("region-b", "ready", 1)
        assert fleet.worker.get(f"/rollouts/region-a/{uuid}") == (200, a)
        assert fleet.others[0].get("/rollouts/region-b/web") == (200, b)


def one_target(image_name: str) -> str:
    """region-a/web alone, one retry, backoffs of seconds (the age bound is at least
    ``backoff_max``)."""
    return f"""
images = ["{image_name}"]
[[target]]
cloud = "cloud-region-a"
region = "region-a"
aggregates = ["web"]
[pace]
retry_failed = 1
backoff = "1s"
backoff_max = "2s"
[gate]
valid_for = "1h"
"""


async def killed_after_its_retry(fleet: Fleet, path: Path) -> Command:
    """A rollout of ``path`` killed once it showed its retry (the series open, in Kafka)."""
    run = await fleet.start("rollout", str(path), "--json", "--timeout", "200")
    await run.until(lambda c: len(c.of("request")) == 2)
    run.signal(signal.SIGKILL)
    await run.wait()
    return run


async def test_a_rerun_for_another_image_or_much_later_starts_its_own_retries(
    fleet_of: FleetOf,
) -> None:
    """The open series belongs to its goal: a rollout killed after its retry of a failing target
    and rerun with a policy naming another image asks Nova for that image (its own
    1 + retry_failed requests) instead of counting the other image's attempts and failing
    without asking; rerun after the age bound, the same policy starts anew too. (The same
    policy rerun at once continues: the killed-rollout test above.)"""
    aggregates = {"region-a": [{"id": 1, "name": "web", "hosts": 4, "failing": "3"}]}
    async with fleet_of(aggregates) as fleet:
        old = fleet.policy(one_target(IMAGE_NAME))
        first = await killed_after_its_retry(fleet, old)
        assert [(e["attempt"], e["images"]) for e in first.of("request")] == [
            (1, [IMAGE]), (2, [IMAGE]),
        ]  # fmt: skip
        uuid = first.of("request")[0]["aggregate_uuid"]

        new = fleet.policy(one_target(IMAGE_2_NAME), "new.toml")
        rerun = await fleet.run("rollout", str(new), "--json", "--timeout", "120")
        assert rerun.proc.returncode == 1, rerun.text()  # host 3 fails the new image too
        assert [(e["attempt"], e["images"]) for e in rerun.of("request")] == [
            (1, [IMAGE_2]), (2, [IMAGE_2]),
        ]  # fmt: skip
        notes = [n["message"] for n in rerun.of("note")]  # --json: notes are objects too
        assert len(notes) == 1, rerun.text()
        assert notes[0].startswith(
            "region-a/web: policy changed since the open rollout series (2 requests, the newest "
        ), notes
        assert notes[0].endswith("other images or gate; its retries start from 0")
        assert rerun.err == [], rerun.text()

        # the events carry the goal: the worker's record shows both series, the new one closed
        def settled(status: int, body: Any) -> bool:
            return status == 200 and body["requests_total"] == 4 and body["state"] == "failed"

        status, record = fleet.worker.get_when(f"/rollouts/region-a/{uuid}", settled, 30)
        assert status == 200, record
        goals = [q["goal"] for q in record["requests"]]
        assert goals[0] == goals[1] != goals[2] == goals[3], goals
        assert record["settled"]["rollout"]["goal"] == goals[2]
        assert record["open"] == {}

        # the new policy again, killed after its retry, rerun once the series is older than
        # the bound (here backoff_max, 2 s): its own retries again, and a note why
        again = await killed_after_its_retry(fleet, new)
        await asyncio.sleep(3)
        late = await fleet.run(
            "rollout", str(new), "--json", "--timeout", "120",
            PRECACHE_ROLLOUT_SERIES_MAX_AGE_S="1",
        )  # fmt: skip
        assert late.proc.returncode == 1, late.text()
        assert [e["attempt"] for e in late.of("request")] == [1, 2], late.text()
        notes = [n["message"] for n in late.of("note")]
        assert len(notes) == 1, late.text()
        assert "is older than 2s" in notes[0], notes
        status, ops = fleet.worker.get(f"/operations?aggregate={uuid}")
        assert status == 200
        asked = [*first.of("request"), *rerun.of("request"), *again.of("request")]
        asked += late.of("request")
        assert {o["request_id"] for o in ops["operations"]} == {e["request_id"] for e in asked}


async def test_keep_warm_restarted_with_another_image_starts_its_own_retries(
    fleet_of: FleetOf,
) -> None:
    """keep-warm takes the same series rules as rollout: restarted (a changed policy file, a
    new image) after it had retried a failing host, it asks for the new image from attempt 1
    and says, as a ``note`` object, why the open keep-warm series was not continued."""
    aggregates = {"region-a": [{"id": 1, "name": "web", "hosts": 3, "failing": "2"}]}
    keep = '[keep]\nrefresh_before = "15s"\ninterval = "0.5s"\njitter = "0%"\n'
    async with fleet_of(aggregates) as fleet:
        old = fleet.policy(one_target(IMAGE_NAME) + keep)
        one = await fleet.start("keep-warm", str(old), "--json")
        await one.until(lambda c: len(c.of("request")) == 2)  # the first ask and its retry
        one.signal(signal.SIGKILL)
        await one.wait()
        assert [(e["attempt"], e["images"]) for e in one.of("request")] == [
            (1, [IMAGE]), (2, [IMAGE]),
        ]  # fmt: skip

        new = fleet.policy(one_target(IMAGE_2_NAME) + keep, "new.toml")
        two = await fleet.start("keep-warm", str(new), "--json")
        await two.until(lambda c: len(c.of("request")) >= 1)
        first = two.of("request")[0]
        assert (first["attempt"], first["images"]) == (1, [IMAGE_2]), two.text()
        two.signal(signal.SIGTERM)
        assert await two.wait(30) == 0
        notes = [n["message"] for n in two.of("note")]
        assert notes[0].startswith("region-a/web: policy changed since the open keep-warm series")
        assert notes[-1] == "keep-warm: stopped", two.text()
        assert all("Traceback" not in line for line in two.err)


async def test_keep_warm_refreshes_adds_hosts_and_restarts_without_duplicates(
    fleet_of: FleetOf,
) -> None:
    aggregates = {"region-a": [{"id": 1, "name": "web", "hosts": 3}]}
    async with fleet_of(aggregates, image_min_age_s=40.0, image_manager_interval_s=5.0) as fleet:
        keep = fleet.policy(
            f"""
images = ["{IMAGE_NAME}"]
[[target]]
cloud = "cloud-region-a"
region = "region-a"
aggregates = ["web"]
[keep]
refresh_before = "15s"
interval = "0.5s"
jitter = "0%"
"""
        )
        one = await fleet.start("keep-warm", str(keep), "--json")
        await one.until(lambda c: len(c.of("request")) == 1)
        one.signal(signal.SIGKILL)  # mid-loop, its operation in flight
        await one.wait()
        assert requests(one) == [("region-a", "web", 1, ("missing on 3 hosts",))]

        two = await fleet.start("keep-warm", str(keep), "--json")
        await two.until(lambda c: any(e["state"] == "ready" for e in c.of("target")))
        assert two.of("request") == []  # the restart saw the operation: no duplicate

        await asyncio.to_thread(add_host, fleet.clouds, "cloud-region-a", 1, "region-a-web-4")
        await two.until(lambda c: len(c.of("request")) == 1)
        [joined] = two.of("request")
        assert joined["reasons"][0] == "missing on 1 host", joined  # refresh due: a 2nd reason

        # then before expiry (40 s after each cache, 15 s ahead): a refresh, once per window
        await two.until(lambda c: len(c.of("request")) == 3, limit_s=150)
        two.signal(signal.SIGTERM)
        assert await two.wait(30) == 0
        assert [n["message"] for n in two.of("note")][-1] == "keep-warm: stopped", two.text()
        refreshes = two.of("request")[1:]
        for r in refreshes:
            [reason] = r["reasons"]
            assert reason.startswith("expires in "), reason  # before expiry, not after
            assert reason.endswith(" on 4 hosts"), reason
        # each refresh follows the previous operation's completion: never two in one window
        ops = {e["request_id"] for e in two.of("operation") if e["state"] == "completed"}
        assert {r["request_id"] for r in two.of("request")[:2]} <= ops
        status, body = fleet.worker.get("/operations")
        assert status == 200
        web = [o for o in body["operations"] if o["region"] == "region-a"]
        assert len(web) == 1 + len(two.of("request"))  # one + the second process's: no more


async def test_nova_refusing_and_unreachable(
    fleet_of: FleetOf,
) -> None:
    aggregates = {"region-a": [{"id": 1, "name": "web", "hosts": 2}]}
    async with fleet_of(aggregates) as fleet:

        def one(cloud: str, image: str = IMAGE_NAME, aggregate: str = "web") -> Path:
            text = f'images = ["{image}"]\n[[target]]\ncloud = "{cloud}"\nregion = "region-a"\n'
            return fleet.policy(text + f'aggregates = ["{aggregate}"]\n', f"{cloud}-{image}.toml")

        asking = "Nova refused ({}) asking Nova to cache the images: {}"
        cases = [
            (one("viewer-a"), asking.format(403, "Policy doesn't allow")),
            (
                one("cloud-region-a", UNKNOWN_IMAGE),
                asking.format(400, f"Image {UNKNOWN_IMAGE} could not be found."),
            ),
            (
                one("cloud-region-a", "no-such-image"),
                "the image service has no image named 'no-such-image'",
            ),
            (one("cloud-region-a", aggregate="nope"), "Nova has no aggregate named 'nope'"),
            (one("down"), "cannot reach"),
        ]
        for path, message in cases:
            done = await fleet.run("rollout", str(path), "--timeout", "60")
            assert done.proc.returncode == 3, done.text()
            assert len(done.err) == 1, done.text()
            assert done.err[0].startswith("error: "), done.err
            assert message in done.err[0], done.err

        # the worker (the inventory) unreachable at the start: exit 3 too
        closed = f"http://127.0.0.1:{free_port()}"
        blind = await fleet.run("rollout", str(one("cloud-region-a")), PRECACHE_WORKER_URL=closed)
        assert blind.proc.returncode == 3, blind.text()
        assert blind.err == [
            f"error: cannot read the inventory from the worker at {closed} "
            "(PRECACHE_WORKER_URL): [Errno 111] Connection refused"
        ]

        # keep-warm backs off while Nova cannot be reached, and stops on SIGTERM
        warm = await fleet.start("keep-warm", str(one("down")))
        await warm.until(lambda c: sum("next try in" in line for line in c.err) >= 2, limit_s=120)
        warm.signal(signal.SIGTERM)
        assert await warm.wait(60) == 0
        assert all("Traceback" not in line for line in warm.err)
        # an unknown aggregate is a bad policy for keep-warm too
        bad = await fleet.run("keep-warm", str(one("cloud-region-a", aggregate="nope")))
        assert bad.proc.returncode == 3, bad.text()
