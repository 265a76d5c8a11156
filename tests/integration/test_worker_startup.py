"""`precache worker` start-up on the real Kafka: every refusal is one line and exit 3, before
faust starts anything; and only our HTTP routes are served."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.synthetic import SyntheticOperation, hostnames
from precache import kafka_topics
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.topics import prepare_topics
from tests.support.kafka import produce
from tests.support.worker import PRECACHE, WorkerProcess, free_port, settings_env

pytestmark = pytest.mark.integration

Settings = Callable[..., Awaitable[WorkerSettings]]


def run_worker(settings: WorkerSettings, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PRECACHE), "worker"],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The worker exited 3 with exactly one line on stderr (and no traceback anywhere)."""
    output = f"stdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == 3, output
    assert "Traceback" not in result.stdout + result.stderr, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    return lines[0]


async def test_kafka_unreachable_is_one_line_naming_the_address(worker_settings: Settings) -> None:
    closed = f"127.0.0.1:{free_port()}"
    settings = await worker_settings(
        create_topics=False, kafka_bootstrap=closed, connect_timeout_s=2.0
    )
    line = refusal(run_worker(settings))
    assert f"cannot reach Kafka at {closed}" in line
    assert "PRECACHE_KAFKA_BOOTSTRAP" in line
    assert "PRECACHE_CONNECT_TIMEOUT_S" in line


async def test_web_port_in_use_is_one_line_naming_port_and_setting(
    worker_settings: Settings,
) -> None:
    settings = await worker_settings()
    with socket.socket() as squatter:
        squatter.bind((settings.web_bind, settings.web_port))
        squatter.listen()
        line = refusal(run_worker(settings))
    assert f"web port {settings.web_port}" in line
    assert "--web-port / PRECACHE_WEB_PORT" in line


async def test_second_worker_on_a_data_dir_is_refused_until_the_first_is_killed(
    worker_settings: Settings, start_worker: Callable[[WorkerSettings], WorkerProcess]
) -> None:
    first = await worker_settings()
    holder = start_worker(first)
    holder.wait_ready()
    second = first.model_copy(update={"web_port": free_port()})

    line = refusal(run_worker(second))
    assert holder.proc is not None
    assert f"data dir {first.data_dir} is in use by another worker (pid {holder.proc.pid})" in line
    assert "PRECACHE_DATA_DIR" in line

    holder.kill()  # SIGKILL: the kernel drops the lock, no stale file refuses the restart
    start_worker(second).wait_ready()


async def test_the_worker_creates_its_changelogs_before_faust_starts(
    worker_settings: Settings, start_worker: Callable[[WorkerSettings], WorkerProcess]
) -> None:
    """The changelogs exist, compacted and co-partitioned with the raw topic, before faust
    starts: left to faust, a table written right after start-up could find its changelog in
    the consumer's metadata with 0 partitions (``PartitionsMismatch``, exit 70: seen in
    ``bench scale``); and the checks never name a missing topic in a metadata request (Kafka
    would auto-create it with one partition)."""
    settings = await worker_settings()
    names = [changelog(settings), f"{settings.app_id}-inventory-changelog"]
    await prepare_topics(settings, names)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        states = await kafka_topics.describe(admin, names)
    finally:
        await admin.close()
    assert {name: states[name].partitions for name in names} == dict.fromkeys(
        names, settings.raw_partitions
    )
    assert {name: states[name].configs.get("cleanup.policy") for name in names} == dict.fromkeys(
        names, "compact"
    )
    start_worker(settings).wait_ready()


async def create_topics(bootstrap: str, topics: list[NewTopic]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(topics)
    finally:
        await admin.close()


def changelog(s: WorkerSettings) -> str:
    return f"{s.app_id}-operations-changelog"


# (what is wrong, the topic made wrongly, what the line must say)
WRONG_TOPICS: dict[str, tuple[Callable[[WorkerSettings], NewTopic], Callable[..., list[str]]]] = {
    "raw partitions": (
        lambda s: NewTopic(s.raw_topic, 2, 1),
        lambda s: [f"topic {s.raw_topic} has 2 partitions", "PRECACHE_RAW_PARTITIONS=2"],
    ),
    "derived partitions": (
        lambda s: NewTopic(s.completed_topic, 2, 1),
        lambda s: [
            f"topic {s.completed_topic} has 2 partitions",
            f"--alter --topic {s.completed_topic} --partitions 4",
        ],
    ),
    "status not compacted": (
        lambda s: NewTopic(s.status_topic, 4, 1, topic_configs={"cleanup.policy": "delete"}),
        lambda s: [
            f"topic {s.status_topic} has cleanup.policy=delete but must be compacted",
            f"--entity-name {s.status_topic} --add-config cleanup.policy=compact",
        ],
    ),
    "dlq compacted": (
        lambda s: NewTopic(s.pipeline_dlq_topic, 1, 1, topic_configs={"cleanup.policy": "compact"}),
        lambda s: [
            f"topic {s.pipeline_dlq_topic} has cleanup.policy=compact but must not be",
            f"--entity-name {s.pipeline_dlq_topic} --add-config cleanup.policy=delete",
        ],
    ),
    "raw limit below max_record_bytes": (
        lambda s: NewTopic(s.raw_topic, 4, 1, topic_configs={"max.message.bytes": "1048588"}),
        lambda s: [
            f"topic {s.raw_topic} has max.message.bytes=1048588",
            f"--entity-name {s.raw_topic} --add-config max.message.bytes={s.max_record_bytes}",
        ],
    ),
    "changelog limit below the worker's records": (
        lambda s: NewTopic(
            changelog(s),
            4,
            1,
            topic_configs={"cleanup.policy": "compact", "max.message.bytes": "500000"},
        ),
        lambda s: [
            f"topic {changelog(s)} has max.message.bytes=500000",
            f"--entity-name {changelog(s)} --add-config max.message.bytes=1048576",
        ],
    ),
}


@pytest.mark.parametrize("case", WRONG_TOPICS)
async def test_topic_set_up_wrongly_is_one_line_with_the_fix(
    worker_settings: Settings, case: str
) -> None:
    settings = await worker_settings(create_topics=False)
    make, expected = WRONG_TOPICS[case]
    await create_topics(settings.kafka_bootstrap, [make(settings)])
    line = refusal(run_worker(settings))
    for text in expected(settings):
        assert text in line


async def test_a_topic_kafka_cannot_create_is_one_line_naming_topic_and_setting(
    worker_settings: Settings,
) -> None:
    """aiokafka's ``create_topics`` answers per topic instead of raising: a refused creation
    was reported as created, and the worker ran on without its completed topic."""
    name = "precache.completed." + "x" * 236  # 255 characters; Kafka allows 249
    settings = await worker_settings(create_topics=False, completed_topic=name)
    line = refusal(run_worker(settings))
    assert f"cannot create Kafka topic {name}" in line
    assert "PRECACHE_COMPLETED_TOPIC" in line


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for_operation(base: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = http_get(base + "/operations")
        operations: list[dict[str, Any]] = json.loads(body)["operations"] if status == 200 else []
        if operations:
            return str(operations[0]["operation_id"])
        time.sleep(0.5)
    raise AssertionError("no operation appeared on GET /operations")


FAUST_PAGES = [
    "/static/../../etc/passwd",  # only the dashboard's own files are served
    "/static/dashboard.py",
    "/router/",
    "/router/topics",
    "/router/operations/",
    "/router/operations/{key}/",
    "/table/",
    "/table/operations/",
    "/table/operations/{key}/",
    "/graph/",
    "/assignment/",
    "/performance/",
    "/signal/",
]


async def test_only_our_routes_are_served(
    worker_settings: Settings, start_worker: Callable[[WorkerSettings], WorkerProcess]
) -> None:
    settings = await worker_settings(log_level="INFO")
    worker = start_worker(settings)
    op = SyntheticOperation(hosts=hostnames(3), images=["c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2"])
    await produce(settings.kafka_bootstrap, settings.raw_topic, op.records())
    worker.wait_ready()
    op_id = wait_for_operation(worker.url)
    key = urllib.parse.quote(json.dumps(op_id), safe="")

    ours = ["/operations", "/operations/", f"/operations/{op_id}", "/stats", "/stats/"]
    ours += ["/metrics", "/", "/static/dashboard.js", "/static/dashboard.css"]
    for path in ours:
        assert http_get(worker.url + path)[0] == 200, path
    assert b"<title>precache: image pre-cache operations</title>" in http_get(worker.url + "/")[1]
    for path in FAUST_PAGES:
        status, body = http_get(worker.url + path.format(key=key))
        assert status == 404, (path, body[:200])
    # started: what start-up made left the garbage collector's view (precache.heap)
    lines = worker.log_path.read_text().splitlines()
    frozen = [json.loads(line) for line in lines if "start-up heap frozen" in line]
    assert len(frozen) == 1, worker.tail()
    assert frozen[0]["objects"] > 50_000
