"""Two regions for ``precache rollout`` / ``keep-warm``: a worker, a bridge per region, a Nova API
stand-in per region publishing into its bridge's exchange (oslo's Notifier), a clouds.yaml
naming both (and a reader-only and an unreachable cloud), and the commands as child processes
whose JSON lines are read as they come."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from precache.bridge.settings import BridgeSettings
from precache.pipeline.settings import WorkerSettings
from tests.support.amqp import delete_queue
from tests.support.bridge import running_bridge
from tests.support.nova_api import StandIn, noauth_cloud, write_clouds
from tests.support.worker import PRECACHE, WorkerProcess, free_port, settings_env

IMAGE = "5f0c1c1e-7a0e-4c77-9a43-0b6f6f0e0024"
IMAGE_NAME = "ubuntu-24.04-20261201"
IMAGE_2 = "9a1d7c3e-5b2f-4e8a-8c1d-2f3e4a5b0031"  # a second image, for a policy that changed
IMAGE_2_NAME = "debian-13-20261201"
UNKNOWN_IMAGE = "0b6f6f0e-0000-4000-8000-00000000dead"


@dataclass
class Fleet:
    worker: WorkerProcess
    stand_ins: dict[str, StandIn]
    clouds: Path
    tmp: Path
    others: list[WorkerProcess] = field(default_factory=list)  # more workers, same partitions

    def env(self, **extra: str) -> dict[str, str]:
        base = {
            k: v for k, v in settings_env(self.worker.settings).items() if not k.startswith("OS_")
        }
        return {
            **base,
            "OS_CLIENT_CONFIG_FILE": str(self.clouds),
            "PRECACHE_WORKER_URL": self.worker.url,
            "PRECACHE_ROLLOUT_POLL_S": "0.5",
            "PRECACHE_ROLLOUT_SETTLE_S": "3",
            **extra,
        }

    def policy(self, text: str, name: str = "policy.toml") -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path

    async def start(self, *args: str, **env: str) -> "Command":
        proc = await asyncio.create_subprocess_exec(
            PRECACHE, *args, env=self.env(**env),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return Command(proc).read()

    async def run(self, *args: str, limit_s: float = 240, **env: str) -> "Command":
        command = await self.start(*args, **env)
        await command.wait(limit_s)
        return command


@dataclass
class Command:
    proc: asyncio.subprocess.Process
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def read(self) -> "Command":
        async def pump(stream: asyncio.StreamReader | None, into: list[str]) -> None:
            assert stream is not None
            async for line in stream:
                into.append(line.decode().rstrip("\n"))

        self._tasks = [
            asyncio.create_task(pump(self.proc.stdout, self.out)),
            asyncio.create_task(pump(self.proc.stderr, self.err)),
        ]
        return self

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out if line.startswith("{")]

    def of(
        self, kind: str, aggregate: str | None = None, region: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            e for e in self.events
            if e["kind"] == kind
            and (aggregate is None or e.get("aggregate") == aggregate)
            and (region is None or e.get("region") == region)
        ]  # fmt: skip

    async def until(self, check: Callable[["Command"], bool], limit_s: float = 120) -> None:
        deadline = asyncio.get_running_loop().time() + limit_s
        while not check(self):
            if self.proc.returncode is not None:
                await asyncio.sleep(0.2)  # the last lines
                assert check(self), f"exited {self.proc.returncode}\n{self.text()}"
                return
            assert asyncio.get_running_loop().time() < deadline, f"not seen\n{self.text()}"
            await asyncio.sleep(0.2)

    async def wait(self, limit_s: float = 240) -> int:
        code = await asyncio.wait_for(self.proc.wait(), limit_s)
        await asyncio.gather(*self._tasks)
        return code

    def signal(self, signum: int) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signum)

    def text(self) -> str:
        return "\n".join(["--- stdout", *self.out, "--- stderr", *self.err])


def stand_in_config(region: str, aggregates: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "aggregates": [
            {
                "delay_s": 0.05,
                "concurrency": 4,
                "failing": "",
                "host_prefix": f"{region}-{a['name']}-",
                **a,
            }
            for a in aggregates
        ],
        "images": [{"id": IMAGE, "name": IMAGE_NAME}, {"id": IMAGE_2, "name": IMAGE_2_NAME}],
        "readers": ["viewer"],
    }


@asynccontextmanager
async def two_regions(
    amqp_url: str,
    tmp: Path,
    unique_name: Callable[[str], str],
    worker: WorkerSettings,
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    aggregates: dict[str, list[dict[str, Any]]],
    others: Sequence[WorkerSettings] = (),
) -> AsyncIterator[Fleet]:
    """``aggregates``: per region (``region-a``, ``region-b``), its stand-in's aggregates;
    ``others``: more workers of the same group (each then owns a share of the partitions)."""
    process = start_worker(worker)
    more = [start_worker(s) for s in others]
    for w in [process, *more]:
        w.wait_ready(partitions=worker.raw_partitions // (1 + len(more)) if more else None)
    stand_ins: dict[str, StandIn] = {}
    queues: list[str] = []
    clouds: dict[str, dict[str, Any]] = {}
    async with AsyncExitStack() as stack:
        try:
            for region, aggs in aggregates.items():
                bridge = BridgeSettings(
                    amqp_url=SecretStr(amqp_url),
                    kafka_bootstrap=worker.kafka_bootstrap,
                    region=region,
                    exchange=unique_name(f"nova-{region}"),
                    queue=unique_name(f"precache-bridge-{region}"),
                    raw_topic=worker.raw_topic,
                    dlq_topic=f"{worker.raw_topic}.dlq",
                    shutdown_timeout_s=5.0,
                )
                queues.append(bridge.queue)
                await stack.enter_async_context(running_bridge(bridge))
                env = {"PRECACHE_AMQP_URL": amqp_url, "PRECACHE_CONTROL_EXCHANGE": bridge.exchange}
                stand_in = StandIn(stand_in_config(region, aggs), tmp, env)
                stand_ins[region] = stand_in
                await asyncio.to_thread(stand_in.wait_ready)
                clouds[f"cloud-{region}"] = noauth_cloud(stand_in.url, region=region)
            a = stand_ins["region-a"].url
            clouds["viewer-a"] = noauth_cloud(a, token="viewer:viewer", region="region-a")
            clouds["down"] = noauth_cloud(f"http://127.0.0.1:{free_port()}", region="region-a")
            path = write_clouds(tmp / "clouds.yaml", clouds)
            yield Fleet(process, stand_ins, path, tmp, more)
        finally:
            for stand_in in stand_ins.values():
                stand_in.stop()
            for queue in queues:
                delete_queue(amqp_url, queue)


def add_host(clouds: Path, cloud: str, aggregate_id: int, host: str) -> None:
    """Through real openstacksdk, as an operator adds a compute host to an aggregate."""
    script = (
        "import openstack, sys; openstack.connect(cloud=sys.argv[1])"
        ".compute.add_host_to_aggregate(int(sys.argv[2]), sys.argv[3])"
    )  # a child process: openstacksdk warns (RemovedInSDK60Warning) where pytest makes it an error
    subprocess.run(
        [sys.executable, "-c", script, cloud, str(aggregate_id), host],
        env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds)},
        check=True,
        timeout=60,
    )
