"""The worker as a service, the twin of ``bridge/service.py``: check, then run faust.

:func:`serve` checks, in order, before faust starts anything: the data dir's lock, the web
port, Kafka within ``connect_timeout_s`` and every topic. The worker fails fast rather than
waiting for Kafka: under systemd or Kubernetes the supervisor's restart policy does the
waiting. A failure that escapes faust later is translated into our vocabulary
(:func:`translate_failure`): known start-up causes exit 3, anything else 1.
"""

import asyncio
import errno
import logging
from collections.abc import Coroutine
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import PartitionsMismatch
from faust.types import AppT

from precache import kafka_backoff, logs
from precache.errors import (
    BrokerUnreachable,
    PortInUse,
    PrecacheError,
    ServiceFailed,
    TopicMismatch,
)
from precache.heap import freeze_startup_heap, space_out_collections
from precache.pipeline.app import build
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.startup import check_port_free, data_dir_lock
from precache.pipeline.topics import prepare_topics


def serve(settings: WorkerSettings) -> None:
    """The process entry point: the checks, then faust until SIGTERM/SIGINT."""
    kafka_backoff.install()  # reconnects back off (a small module: kafka_backoff)
    space_out_collections()  # precache.heap: a backlog's garbage is not cyclic
    with data_dir_lock(settings.data_dir):
        check_port_free(settings.web_bind, settings.web_port)
        _run_faust(settings)


class Worker(faust.Worker):
    """faust's worker with our logging and our start-up heap freeze."""

    def __init__(self, app: AppT, settings: WorkerSettings) -> None:
        self._settings = settings  # before faust's __init__, which may set up logging
        super().__init__(app, loglevel=settings.log_level)
        # faust's terminal spinner (kept for levels >= WARNING) sets the root logger to DEBUG,
        # so every debug call in aiokafka/faust built a log record only for the handler to
        # drop it: ~10% of a benchmark worker's time. A service needs no spinner.
        self.spinner = None

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        """mode has just put its own handler on the root logger: use ours instead, so
        faust's, aiokafka's and the pipeline's lines share one structured format."""
        logs.configure(self._settings.log_level)
        logs.limit_library_logs()

    async def on_startup_finished(self) -> None:
        """Started and recovered: what start-up made leaves the collector's view."""
        await super().on_startup_finished()
        freeze_startup_heap()


def _run_faust(settings: WorkerSettings) -> None:
    pipeline = build(settings)
    changelogs = [t.changelog_topic.get_topic_name() for t in pipeline.app.tables.values()]
    _run_private_loop(prepare_topics(settings, changelogs))
    worker = Worker(pipeline.app, settings)
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        # mode logs the exception (one JSON line), then exits 1 with it as the context
        cause = stop.__context__
        if stop.code in (0, None) or not isinstance(cause, Exception):
            raise
        raise translate_failure(cause, settings) from cause


def _run_private_loop(coro: Coroutine[Any, Any, Any]) -> None:
    """Run the checks on a loop of their own, leaving the thread's loop to faust."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        loop.close()


def translate_failure(exc: Exception, settings: WorkerSettings) -> PrecacheError:
    """A failure that escaped faust, in our vocabulary: known start-up causes exit 3."""
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return PortInUse(
            f"web port {settings.web_port} is in use by another process "
            f"(--web-port / PRECACHE_WEB_PORT)"
        )
    if isinstance(exc, PartitionsMismatch):
        return TopicMismatch(f"{exc} (PRECACHE_RAW_PARTITIONS is {settings.raw_partitions})")
    if isinstance(exc, KafkaError):
        return BrokerUnreachable(f"Kafka at {settings.kafka_bootstrap} failed: {exc!r}")
    return ServiceFailed(f"the worker stopped on an unexpected error (see its log): {exc!r}")
