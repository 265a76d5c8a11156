"""``precache worker``: the faust pipeline. Options override ``PRECACHE_*`` env vars."""

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from precache.cli.errors import one_line_errors
from precache.errors import ConfigError


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
    try:
        settings = WorkerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{name} (PRECACHE_{name.upper()}): {first['msg']}") from exc
    run(settings)


def run(settings: Any) -> None:
    import faust

    from pipeline.app import build
    from pipeline.topics import ensure_topics
    from precache import logs

    class Worker(faust.Worker):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            """mode has just put its own handler on the root logger: use ours instead, so
            faust's, aiokafka's and the pipeline's lines share one structured format."""
            logs.configure(settings.log_level)

    logs.configure(settings.log_level)
    asyncio.run(ensure_topics(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pipeline = build(settings)
    worker = Worker(pipeline.app, loglevel=settings.log_level)
    # faust's terminal spinner (kept for levels >= WARNING) sets the root logger to DEBUG, so
    # every debug call in aiokafka/faust built a log record only for the handler to drop it:
    # ~10% of a benchmark worker's time. A service needs no spinner.
    worker.spinner = None
    worker.execute_from_commandline()
