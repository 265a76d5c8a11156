"""``precache cache`` end to end, every piece real: openstacksdk -> the Nova API stand-in ->
oslo.messaging Notifier -> RabbitMQ -> bridge -> Kafka -> worker -> the follow of exactly that
operation; and Nova's refusals, each its own message and exit 3."""

import asyncio
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from precache.bridge.settings import BridgeSettings
from precache.pipeline.settings import WorkerSettings
from precache.simulate.plan import DEMO_IMAGE
from tests.support.amqp import delete_queue
from tests.support.bridge import running_bridge
from tests.support.kafka import read_topic
from tests.support.nova_api import StandIn, noauth_cloud, write_clouds
from tests.support.worker import PRECACHE, WorkerProcess, settings_env

pytestmark = pytest.mark.integration

REGION = "region-a"
OTHER_IMAGE = "5f0c1c1e-7a0e-4c77-9a43-0b6f6f0e0001"
THIRD_IMAGE = "5f0c1c1e-7a0e-4c77-9a43-0b6f6f0e0003"
UNKNOWN_IMAGE = "0b6f6f0e-0000-4000-8000-00000000dead"
ANNOUNCEMENT_ERRORS = [f"guaranine{n}" for n in range(2, 10)]


def stand_in_config(*, delay_s: float) -> dict[str, Any]:
    return {
        "aggregates": [
            {
                "id": 2,
                "name": "my-application",
                "hosts": 95,
                "failing": "2-9",
                "delay_s": delay_s,
                "concurrency": 8,
            },
            {
                "id": 4,
                "name": "small",
                "hosts": 12,
                "failing": "2-4",
                "delay_s": 0.6,
                "concurrency": 2,
            },
            {"id": 5, "name": "healthy", "hosts": 6, "failing": "", "delay_s": 0.01},
            {"id": 6, "name": "empty", "hosts": 0},
        ],
        "images": [
            {"id": DEMO_IMAGE, "name": "my-application-image"},
            {"id": OTHER_IMAGE, "name": "other-image"},
            {"id": THIRD_IMAGE, "name": "third-image"},
            {"id": "1a000000-0000-4000-8000-000000000001", "name": "twin"},
            {"id": "1a000000-0000-4000-8000-000000000002", "name": "twin"},
        ],
        "readers": ["viewer"],
    }


class Flow:
    """A worker, a bridge of region-a and a stand-in publishing into that bridge's exchange."""

    def __init__(self, worker: WorkerSettings, stand_in: StandIn, clouds: Path) -> None:
        self.worker = worker
        self.stand_in = stand_in
        self.env = {
            **{k: v for k, v in settings_env(worker).items() if not k.startswith("OS_")},
            "OS_CLIENT_CONFIG_FILE": str(clouds),
            "OS_CLOUD": "standin",
        }

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            PRECACHE,
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def run(self, *args: str, limit_s: float = 180) -> tuple[int, list[str], list[str]]:
        proc = await self.start(*args)
        out, err = await asyncio.wait_for(proc.communicate(), limit_s)
        assert proc.returncode is not None
        return proc.returncode, out.decode().splitlines(), err.decode().splitlines()


@pytest.fixture
def stand_in_factory(tmp_path: Path) -> Iterator[Callable[..., StandIn]]:
    started: list[StandIn] = []

    def start(config: dict[str, Any], env: dict[str, str]) -> StandIn:
        stand_in = StandIn(config, tmp_path, env)
        started.append(stand_in)
        return stand_in.wait_ready()

    yield start
    for stand_in in started:
        stand_in.stop()


@pytest.fixture
async def flow(
    amqp_url: str,
    tmp_path: Path,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    stand_in_factory: Callable[..., StandIn],
) -> AsyncIterator[Flow]:
    worker = await worker_settings()
    start_worker(worker).wait_ready()
    bridge = BridgeSettings(
        amqp_url=SecretStr(amqp_url),
        kafka_bootstrap=worker.kafka_bootstrap,
        region=REGION,
        exchange=unique_name("nova"),
        queue=unique_name("precache-bridge"),
        raw_topic=worker.raw_topic,
        dlq_topic=f"{worker.raw_topic}.dlq",
        shutdown_timeout_s=5.0,
    )
    env = {"PRECACHE_AMQP_URL": amqp_url, "PRECACHE_CONTROL_EXCHANGE": bridge.exchange}
    stand_in = stand_in_factory(stand_in_config(delay_s=0.05), env)
    clouds = write_clouds(
        tmp_path / "clouds.yaml", {"standin": noauth_cloud(stand_in.url, region=REGION)}
    )
    try:
        async with running_bridge(bridge):
            yield Flow(worker, stand_in, clouds)
    finally:
        delete_queue(amqp_url, bridge.queue)


def normalized(lines: list[str]) -> list[str]:
    """The duration is the operation's own: the one thing in the output that varies."""
    return [re.sub(r" in (\d+h)?(\d+m)?\d+s$", " in <duration>", line) for line in lines]


async def test_announcement_example_through_cache(flow: Flow, tmp_path: Path) -> None:
    marker = tmp_path / "rolled-out"
    status, out, err = await flow.run(
        "cache",
        "my-application",
        DEMO_IMAGE,
        "--plain",
        "--timeout",
        "150",
        "--then",
        f"touch {marker}",
    )

    assert status == 1, err
    progress = [line for line in out if line.startswith("Aggregate ")]
    assert normalized([line for line in out if line not in progress]) == [
        "Image cache started on 95 hosts",
        "Completed 95 hosts, 8 errors in <duration>",
        "Errors from hosts:",
        *ANNOUNCEMENT_ERRORS,
        f"Image {DEMO_IMAGE} failed 8 times",
    ]
    assert out[1 : 1 + len(progress)] == progress  # right after the first line
    assert progress[-1] == "Aggregate 'my-application' host 95: 100% complete (8 errors)"
    quarters = []  # sparse: one line per quarter crossed, as `precache watch` prints them
    for line in progress[:-1]:
        found = re.fullmatch(
            r"Aggregate 'my-application' host \d+: (\d+)% complete \(\d errors\)", line
        )
        assert found, line
        quarters.append(int(found[1]) // 25)
    assert quarters == sorted(set(quarters))
    assert all(1 <= q <= 3 for q in quarters), progress
    assert not marker.exists(), "--then ran although hosts failed"

    # what correlates: Nova's response request id and our global one, in every notification
    [accepted] = [line for line in err if line.startswith("Nova accepted caching")]
    found = re.search(r"request (req-\S+), global request (req-\S+)$", accepted)
    assert found, accepted
    records = await read_topic(
        flow.worker.kafka_bootstrap, flow.worker.raw_topic, lambda rs: len(rs) >= 97
    )
    contexts = {
        (m["_context_request_id"], m["_context_global_request_id"])
        for m in (orjson.loads(r.value) for r in records)
    }
    assert len(records) == 97  # start, 95 hosts, end
    assert contexts == {(found[1], found[2])}


async def test_then_runs_only_on_success(flow: Flow, tmp_path: Path) -> None:
    marker = tmp_path / "rolled-out"
    status, out, err = await flow.run(
        "cache",
        "healthy",
        "my-application-image",
        "--plain",
        "--timeout",
        "120",
        "--then",
        f"touch {marker} && exit 7",
    )

    assert status == 7, err  # --then's own status
    assert marker.exists()
    assert normalized(out)[-1] == "Completed 6 hosts, 0 errors in <duration>"


async def test_two_operations_on_one_aggregate_each_followed(flow: Flow) -> None:
    first = await flow.start("cache", "small", DEMO_IMAGE, "--plain", "--timeout", "150")
    await asyncio.sleep(1)
    second = await flow.start("cache", "small", "other-image", "--plain", "--timeout", "150")
    status, ids, err = await flow.run("cache", "small", THIRD_IMAGE, "--no-wait")
    assert status == 0, err
    request_id = dict(line.split(" ", 1) for line in ids)["request_id"]
    assert re.fullmatch(r"req-[0-9a-f-]{36}", request_id)
    watch = await flow.start("watch", "--request-id", request_id, "--plain", "--timeout", "150")

    results = []
    for proc in (first, second, watch):
        out, err_bytes = await asyncio.wait_for(proc.communicate(), 180)
        results.append((proc.returncode, out.decode().splitlines(), err_bytes.decode()))

    for (code, lines, stderr), image in zip(
        results, (DEMO_IMAGE, OTHER_IMAGE, THIRD_IMAGE), strict=True
    ):
        assert code == 1, stderr
        assert lines[0] == "Image cache started on 12 hosts"
        assert lines[-5:] == [
            "Errors from hosts:",
            "guaranine2",
            "guaranine3",
            "guaranine4",
            f"Image {image} failed 3 times",
        ]


@pytest.fixture
async def refusing(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    stand_in_factory: Callable[..., StandIn],
    amqp_url: str,
    tmp_path: Path,
) -> Flow:
    """Derived topics exist (no worker needed: Nova refuses before anything runs)."""
    worker = await worker_settings()
    stand_in = stand_in_factory(stand_in_config(delay_s=0.01), {"PRECACHE_AMQP_URL": amqp_url})
    clouds = write_clouds(
        tmp_path / "clouds.yaml",
        {
            "standin": noauth_cloud(stand_in.url),
            "viewer": noauth_cloud(stand_in.url, token="viewer:demo"),
            "stranger": noauth_cloud(stand_in.url, token="someone:demo"),
            "nowhere": noauth_cloud(f"http://127.0.0.1:{_closed_port()}"),
        },
    )
    return Flow(worker, stand_in, clouds)


def _closed_port() -> int:
    from tests.support.worker import free_port

    return free_port()  # bound then released: nothing listens there


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--os-cloud", "viewer", "my-application", DEMO_IMAGE],
            "error: Nova refused (403) asking Nova to cache the images: "
            "Policy doesn't allow compute:aggregates:images to be performed.",
        ),
        (
            ["--os-cloud", "stranger", "my-application", DEMO_IMAGE],
            "error: Nova refused (403) finding the aggregate: "
            "Policy doesn't allow os_compute_api:os-aggregates:index to be performed.",
        ),
        (
            ["7", DEMO_IMAGE],
            "error: Nova refused (404) finding the aggregate: Aggregate 7 could not be found.",
        ),
        (
            ["my-application", UNKNOWN_IMAGE],
            "error: Nova refused (400) asking Nova to cache the images: "
            f"Image {UNKNOWN_IMAGE} could not be found.",
        ),
        (
            ["my-application", DEMO_IMAGE, "my-application-image"],
            "error: Nova refused (400) asking Nova to cache the images: "
            "Duplicate images in request",
        ),
        (
            ["my-application", "no-such-image"],
            "error: the image service has no image named 'no-such-image'",
        ),
        (
            ["my-application", "twin"],
            "error: image name 'twin' is ambiguous: several images have it; give the id",
        ),
        (
            ["no-such-aggregate", DEMO_IMAGE],
            "error: Nova has no aggregate named 'no-such-aggregate'",
        ),
        (["empty", DEMO_IMAGE], "error: aggregate 'empty' has no hosts: nothing to cache"),
    ],
)
async def test_refusals_are_one_line_and_exit_3(
    refusing: Flow, args: list[str], message: str
) -> None:
    status, out, err = await refusing.run("cache", *args)

    assert (status, out) == (3, [])
    assert err[-1] == message
    assert all(line.startswith("warning: no precache worker") for line in err[:-1]), err


async def test_nova_unreachable_exits_3_within_the_connect_timeout(refusing: Flow) -> None:
    refusing.env["PRECACHE_CONNECT_TIMEOUT_S"] = "3"
    began = time.monotonic()
    status, out, err = await refusing.run(
        "cache", "--os-cloud", "nowhere", "my-application", DEMO_IMAGE
    )

    assert status == 3
    assert out == []
    assert len(err) == 1, err
    assert err[0].startswith("error: cannot reach Nova finding the aggregate"), err
    assert time.monotonic() - began < 3 + 10  # the connect timeout, plus start-up


async def test_kafka_unreachable_exits_3_before_nova_is_asked(refusing: Flow) -> None:
    status, out, err = await refusing.run(
        "cache", "my-application", DEMO_IMAGE, "--kafka", "127.0.0.1:1"
    )
    assert out == []

    assert status == 3
    assert len(err) == 1, err
    assert err[0].startswith("error: cannot reach Kafka at 127.0.0.1:1"), err
    log = refusing.stand_in.log.read_text()
    assert "/images" not in log, "Nova was asked although Kafka is unreachable"


def test_usage_errors_exit_3() -> None:
    done = subprocess.run(
        [PRECACHE, "cache", "my-application"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert done.returncode == 3
    assert len(done.stderr.splitlines()) == 1, done.stderr


async def test_json_prints_only_that_operations_events(flow: Flow) -> None:
    status, out, err = await flow.run("cache", "healthy", DEMO_IMAGE, "--json", "--timeout", "120")

    assert status == 0, err
    [accepted] = [line for line in err if line.startswith("Nova accepted caching")]
    request_id = accepted.split(": request ")[1].split(",")[0]
    events = [orjson.loads(line) for line in out]
    assert {e["data"]["request_id"] for e in events} == {request_id}
    assert len({e["id"] for e in events}) == len(events)
    assert (events[-1]["data"]["state"], events[-1]["data"]["hosts_reported"]) == ("completed", 6)
