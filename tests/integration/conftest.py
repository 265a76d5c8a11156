"""Fixtures for the pipeline's end-to-end tests: unique topics and a worker launcher."""

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from precache.pipeline.settings import WorkerSettings
from precache.pipeline.topics import ensure_topics
from tests.support.worker import WorkerProcess, free_port, own_topics


@pytest.fixture
def worker_settings(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Callable[..., Awaitable[WorkerSettings]]:
    """Settings with this test's own app id and topics; each call gets its own port/data dir.

    The topics are created unless ``create_topics=False`` (a test that creates them wrongly).
    """
    app_id = unique_name("pipeline")
    base: dict[str, Any] = {
        "kafka_bootstrap": kafka_bootstrap,
        **own_topics(app_id),
        "grace_period_s": 2.0,
        "stall_after_s": 600.0,
        "commit_interval_s": 1.0,
        "log_level": "WARNING",
    }

    async def make(create_topics: bool = True, **overrides: Any) -> WorkerSettings:
        port = free_port()
        values = {**base, "web_port": port, "data_dir": tmp_path / f"worker-{port}", **overrides}
        settings = WorkerSettings(**values)
        if create_topics:
            await ensure_topics(settings)
        return settings

    return make


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[WorkerSettings], WorkerProcess]]:
    """Launch `precache worker` subprocesses; every one is stopped at teardown."""
    started: list[WorkerProcess] = []

    def start(settings: WorkerSettings) -> WorkerProcess:
        worker = WorkerProcess(settings, tmp_path / f"worker-{settings.web_port}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
