"""``precache worker``: the faust pipeline. Options override ``PRECACHE_*`` env vars.

Exit statuses: 0 stopped by SIGTERM/SIGINT; 3 a start-up check failed (setting, data dir in
use, web port in use, Kafka unreachable, a topic set up wrongly), one line on stderr; 1 the
worker failed after it started (one line, details in its log).
"""

import asyncio
import errno
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from precache.cli.errors import one_line_errors
from precache.errors import (
    BrokerUnreachable,
    PortInUse,
    PrecacheError,
    ServiceFailed,
    TopicMismatch,
)


@one_line_errors
def worker(
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap HOST:PORT")] = None,
    web_port: Annotated[int | None, typer.Option(help="HTTP view port (one per worker)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="faust data dir (one per worker)")] = None,
    store: Annotated[str | None, typer.Option(help="table store: memory or rocksdb")] = None,
    app_id: Annotated[str | None, typer.Option(help="faust app id (= consumer group)")] = None,
    grace_period_s: Annotated[float | None, typer.Option(help="grace after .end")] = None,
    stall_after_s: Annotated[float | None, typer.Option(help="stall period")] = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING...")] = None,
) -> None:
    """Follow every image pre-cache operation and emit status/completed/failed/stalled events."""
    from precache.config import build_settings
    from precache.pipeline.settings import WorkerSettings

    overrides: dict[str, Any] = {
        "kafka_bootstrap": kafka,
        "web_port": web_port,
        "data_dir": data_dir,
        "store": store,
        "app_id": app_id,
        "grace_period_s": grace_period_s,
        "stall_after_s": stall_after_s,
        "log_level": log_level,
    }
    settings = build_settings(WorkerSettings, **overrides)
    run(settings)


def run(settings: Any) -> None:
    """Check what the worker needs, then run faust until it stops.

    Checks, in order, before faust starts anything: the data dir's lock, the web port, Kafka
    within ``connect_timeout_s`` and every topic. The worker fails fast rather than waiting
    for Kafka: under systemd or Kubernetes the supervisor's restart policy does the waiting.
    """
    from precache import kafka_backoff, logs
    from precache.pipeline.startup import check_port_free, data_dir_lock

    logs.configure(settings.log_level)
    kafka_backoff.install()  # reconnects back off (a small module: kafka_backoff)
    with data_dir_lock(settings.data_dir):
        check_port_free(settings.web_bind, settings.web_port)
        _run_faust(settings)


def _run_faust(settings: Any) -> None:
    import faust

    from precache import logs
    from precache.heap import freeze_startup_heap
    from precache.pipeline.app import build
    from precache.pipeline.topics import prepare_topics

    class Worker(faust.Worker):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            """mode has just put its own handler on the root logger: use ours instead, so
            faust's, aiokafka's and the pipeline's lines share one structured format."""
            logs.configure(settings.log_level)
            logs.limit_library_logs()

        async def on_startup_finished(self) -> None:
            """Started and recovered: what start-up made leaves the collector's view."""
            await super().on_startup_finished()
            freeze_startup_heap()

    pipeline = build(settings)
    changelogs = [t.changelog_topic.get_topic_name() for t in pipeline.app.tables.values()]
    _run_private_loop(prepare_topics(settings, changelogs))
    worker = Worker(pipeline.app, loglevel=settings.log_level)
    # faust's terminal spinner (kept for levels >= WARNING) sets the root logger to DEBUG, so
    # every debug call in aiokafka/faust built a log record only for the handler to drop it:
    # ~10% of a benchmark worker's time. A service needs no spinner.
    worker.spinner = None
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


def translate_failure(exc: Exception, settings: Any) -> PrecacheError:
    """A failure that escaped faust, in our vocabulary: known start-up causes exit 3."""
    from aiokafka.errors import KafkaError
    from faust.exceptions import PartitionsMismatch

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
