"""What every benchmark shares: worker processes, topics of its own, producing, the result line.

bench/ imports nothing from tests/ (a layer rule): the few helpers it needs live here.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.machine import describe
from bench.synthetic import Record
from precache.pipeline.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[1]
PRECACHE = Path(sys.executable).parent / "precache"
LOG_DIR = Path("/tmp/precache-bench")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def own_topics(app_id: str) -> dict[str, str]:
    """The worker settings that give app ``app_id`` a group and topics of its own."""
    return {
        "app_id": app_id,
        "raw_topic": f"{app_id}.raw",
        "ticks_topic": f"{app_id}.ticks",
        "status_topic": f"{app_id}.status",
        "completed_topic": f"{app_id}.completed",
        "host_failed_topic": f"{app_id}.host-failed",
        "stalled_topic": f"{app_id}.stalled",
        "pipeline_dlq_topic": f"{app_id}.dlq",
        "inventory_topic": f"{app_id}.inventory",
        "image_cache_topic": f"{app_id}.image-cache",
        "rollout_topic": f"{app_id}.rollout",
    }


def worker_settings(bootstrap: str, tag: str, **overrides: Any) -> WorkerSettings:
    """A worker on topics, group and data folder of its own."""
    app_id = f"bench-{tag}-{uuid.uuid4().hex[:6]}"
    fields: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        **own_topics(app_id),
        "web_port": free_port(),
        "data_dir": Path(f"/tmp/precache-bench/{app_id}"),
        "log_level": "WARNING",
        **overrides,
    }
    return WorkerSettings(**fields)


def settings_env(settings: Any) -> dict[str, str]:
    """The environment that gives a ``precache`` sub-command exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECACHE_") or "STACK" in k}
    for name, value in settings.model_dump().items():
        if value is None:  # not set (a password file, say): leave the variable out
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = json.dumps(value)
        env[f"PRECACHE_{name.upper()}"] = str(value)
    return env


class WorkerProcess:
    """``precache worker`` as a child process with its own settings; stopped by its pid.

    The one copy: the tests use it too (``tests.support.worker``)."""

    def __init__(self, settings: WorkerSettings, log: Path | None = None) -> None:
        self.settings = settings
        if log is None:
            LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = log or LOG_DIR / f"{settings.app_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    def start(self) -> "WorkerProcess":
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(PRECACHE), "worker"],
                env=settings_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path: str) -> tuple[int, Any]:
        """GET ``path`` on the worker's HTTP view: status and decoded body."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get_when(
        self, path: str, accept: Callable[[int, Any], bool], timeout: float = 30
    ) -> tuple[int, Any]:
        """GET ``path`` until ``accept(status, body)`` holds or ``timeout`` passes; the last answer.

        The worker writes an operation's state after Kafka confirmed its events (docs/pipeline.md),
        so the HTTP view can lag an event just read by one batch.
        """
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.get(path)
            if accept(status, body) or time.monotonic() >= deadline:
                return status, body
            time.sleep(0.1)

    def stats(self) -> dict[str, Any] | None:
        try:
            status, body = self.get("/stats/")
        except (OSError, ValueError):
            return None
        return dict(body) if status == 200 else None

    def wait_ready(self, partitions: int | None = None, timeout: float = 120) -> dict[str, Any]:
        """Until the HTTP view answers and this worker owns ``partitions`` raw partitions
        (any, when None); its stats then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited\n{self.tail()}")
            stats = self.stats()
            owned = len(stats.get("partitions", [])) if stats else 0
            if stats and (owned == partitions if partitions is not None else owned):
                return stats
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready in {timeout}s\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


@dataclass
class CatchUp:
    """A worker that caught up on a preloaded topic: its last ``/stats``, when it was done,
    CPU seconds from its first applied notification and the records counted in them."""

    stats: dict[str, Any]
    finished_at: float
    cpu_s: float
    cpu_records: int
    peak_rss_mib: float
    applied_cpu_s: float = 0.0  # to the last applied notification (``cpu_s``: until idle)

    @property
    def applied_s(self) -> float:
        """First to last applied notification by the worker's clock; when one batch held them
        all (the two are equal), first applied to the poll that saw the worker done."""
        first = float(self.stats["first_applied_at"])
        return float(self.stats["last_applied_at"]) - first or self.finished_at - first

    @property
    def mean_batch(self) -> float:
        batches = int(self.stats.get("batches", 0))
        return float(self.stats.get("batched_records", 0)) / max(1, batches)


def catch_up(
    settings: WorkerSettings,
    total: int,
    counters: Sequence[str] = ("applied", "late"),
    poll_s: float = 0.2,
    log: Path | None = None,
    until_idle: bool = False,
) -> CatchUp:
    """Start ``precache worker`` and poll ``/stats`` until the sum of ``counters`` reaches
    ``total``; CPU is counted from its first applied notification. ``until_idle``: and on
    until the worker is idle (what the notifications set off after they were applied: the
    inventory agent, coalesced snapshots), so that work is counted too."""
    worker = WorkerProcess(settings, log).start()
    try:
        cpu0: float | None = None
        done0 = 0
        while True:
            time.sleep(poll_s)
            if worker.proc is not None and worker.proc.poll() is not None:
                raise RuntimeError(f"worker exited {worker.proc.returncode}\n{worker.tail()}")
            stats = worker.stats()
            if stats is None:
                continue
            done = sum(stats.get(k, 0) for k in counters)
            if cpu0 is None and stats["applied"]:
                cpu0, done0 = cpu_seconds(worker.pid), done
            if done >= total:
                finished = time.time()
                break
        cpu_s = applied_cpu_s = cpu_seconds(worker.pid)
        for _ in range(IDLE_MAX_WINDOWS if until_idle else 0):
            time.sleep(IDLE_WINDOW_S)
            cpu_s, before = cpu_seconds(worker.pid), cpu_s
            if cpu_s - before < IDLE_SHARE * IDLE_WINDOW_S:
                break
        return CatchUp(
            stats=stats,
            finished_at=finished,
            cpu_s=cpu_s - (cpu0 or 0.0),
            cpu_records=max(1, done - done0),
            applied_cpu_s=applied_cpu_s - (cpu0 or 0.0),
            peak_rss_mib=proc_status(worker.pid, "VmHWM"),
        )
    finally:
        worker.stop()


IDLE_WINDOW_S = 1.0
IDLE_SHARE = 0.05  # of one core: the worker's ticks and heartbeats, nothing more
IDLE_MAX_WINDOWS = 120


def proc_status(pid: int, field: str) -> float:
    """A ``/proc/PID/status`` figure in MiB (VmHWM: peak RSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def produce(bootstrap: str, topic: str, records: Iterable[Record]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=16 * 1024 * 1024
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v, headers=h) for k, v, h in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_many(bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    for i in range(0, len(records), 20_000):
        await produce(bootstrap, topic, records[i : i + 20_000])


def commit() -> str:
    """The git commit measured, ``+dirty`` when the work tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table (pastes into bench/README.md as it is)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) < 10:
            return f"{value:.2f}"
        return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def result_line(name: str, argv: Sequence[str], figures: dict[str, Any]) -> str:
    """The benchmark's last line: one JSON object with its figures, the machine, the commit."""
    return json.dumps(
        {
            "bench": name,
            "command": " ".join([".venv/bin/python", "-m", "bench", name, *argv]),
            "commit": commit(),
            "machine": describe(),
            "figures": figures,
        },
        sort_keys=True,
    )


def bridge_argv(settings: Any) -> list[str]:
    """``precache bridge`` with these settings, as an operator would start it."""
    return [
        str(PRECACHE),
        "bridge",
        f"--amqp-url={settings.amqp_url.get_secret_value()}",
        f"--kafka={settings.kafka_bootstrap}",
        f"--exchange={settings.exchange}",
        f"--queue={settings.queue}",
        f"--raw-topic={settings.raw_topic}",
        f"--dlq-topic={settings.dlq_topic}",
        f"--prefetch={settings.prefetch}",
        f"--region={settings.region}",
        f"--{'' if settings.exchange_durable else 'no-'}exchange-durable",
        f"--metrics-port={settings.metrics_port}",
        f"--{'' if settings.single_active_consumer else 'no-'}single-active-consumer",
        f"--amqp-heartbeat-s={settings.amqp_heartbeat_s}",
        *([f"--bridge-id={settings.bridge_id}"] if settings.bridge_id else []),
    ]
