"""Helpers for pipeline tests: a `precache worker` subprocess, producing raw records, reading
derived events back with a plain aiokafka consumer, and the committed JSON Schemas."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr

from precache.pipeline.settings import WorkerSettings
from precache.pipeline.synthetic import Record

ROOT = Path(__file__).resolve().parents[1]
PRECACHE = Path(sys.executable).parent / "precache"


def schema_validator(event_type: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / f"{event_type}.json").read_text())
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def validate(event: dict[str, Any]) -> None:
    schema_validator(event["type"]).validate(event)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: WorkerSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECACHE_") or "STACK" in k}
    for name, value in settings.model_dump().items():
        if value is None:  # not set (a password file, say): leave the variable out
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"PRECACHE_{name.upper()}"] = str(value)
    return env


class WorkerProcess:
    """``precache worker`` as a child process with its own settings; stopped by its pid."""

    def __init__(self, settings: WorkerSettings, log: Path) -> None:
        self.settings = settings
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

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
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def wait_ready(self, partitions: int | None = None, timeout: float = 90) -> dict[str, Any]:
        """Until the HTTP view answers and this worker owns ``partitions`` raw partitions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            assert self.proc.poll() is None, self.tail()
            try:
                status, body = self.get("/stats/")
                owned = len(body.get("partitions", []))
                if status == 200 and (owned == partitions if partitions is not None else owned):
                    return dict(body)
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"worker not ready in {timeout}s\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


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


async def read_until(
    bootstrap: str,
    topics: list[str],
    done: Callable[[list[dict[str, Any]]], bool],
    wait_s: float = 60,
) -> list[dict[str, Any]]:
    """Every event on ``topics`` from the beginning, until ``done(events)`` or the timeout."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    events: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + wait_s
        while not done(events) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    event = json.loads(r.value)
                    assert r.key.decode() == event["subject"]
                    events.append(event)
    finally:
        await consumer.stop()
    return events


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == f"precache.{kind}"]


def completed_ids(events: list[dict[str, Any]]) -> set[str]:
    return {e["subject"] for e in of_type(events, "operation.completed")}


async def read_raw(bootstrap: str, topic: str, count: int, wait_s: float = 30) -> list[Any]:
    """The first ``count`` records of ``topic`` (plain aiokafka records)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + wait_s
        while len(out) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out
