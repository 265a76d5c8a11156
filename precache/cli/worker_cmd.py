"""``precache worker``: the faust pipeline. Options override ``PRECACHE_*`` env vars."""

import asyncio
from pathlib import Path
from typing import Any

import typer

from precache.cli.errors import one_line_errors


@one_line_errors
def worker(
    kafka: str | None = typer.Option(None, help="Kafka bootstrap HOST:PORT"),
    web_port: int | None = typer.Option(None, help="HTTP view port (one per worker)"),
    data_dir: Path | None = typer.Option(None, help="faust data dir (one per worker)"),
    store: str | None = typer.Option(None, help="table store: memory or rocksdb"),
    app_id: str | None = typer.Option(None, help="faust app id (= consumer group)"),
    grace_period_s: float | None = typer.Option(None, help="wait after .end for missing hosts"),
    stall_after_s: float | None = typer.Option(None, help="no progress this long = stalled"),
    log_level: str | None = typer.Option(None, help="DEBUG, INFO, WARNING..."),
) -> None:
    """Follow every image pre-cache operation and emit status/completed/failed/stalled events."""
    from pipeline.settings import WorkerSettings

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
    settings = WorkerSettings(**{k: v for k, v in overrides.items() if v is not None})
    run(settings)


def run(settings: Any) -> None:
    import faust

    from pipeline.app import build
    from pipeline.topics import ensure_topics

    asyncio.run(ensure_topics(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pipeline = build(settings)
    faust.Worker(pipeline.app, loglevel=settings.log_level).execute_from_commandline()
