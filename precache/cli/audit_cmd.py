"""``precache audit``: lost / duplicated / wrong / unfinished for one run's topics."""

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from precache.cli.errors import one_line_errors
from precache.errors import ConfigError

EXIT_PROBLEMS = 1


@one_line_errors
def audit(
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap HOST:PORT")] = None,
    raw_topic: Annotated[str | None, typer.Option(help="bridge output (raw notifications)")] = None,
    dlq_topic: Annotated[str | None, typer.Option(help="bridge dead letters")] = None,
    pipeline_dlq_topic: Annotated[str | None, typer.Option(help="pipeline dead letters")] = None,
    completed_topic: Annotated[str | None, typer.Option(help="completed events")] = None,
    accepted: Annotated[
        Path | None,
        typer.Option(help="file of the message_ids RabbitMQ accepted, one per line"),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    problems_only: Annotated[
        bool, typer.Option(help="list only operations with a problem or unfinished")
    ] = False,
    timeout_s: Annotated[float, typer.Option(help="Kafka connect timeout")] = 10.0,
) -> None:
    """Reconcile a run: exit 0 when nothing is lost, duplicated or wrong; 1 otherwise."""
    from precache.audit import AuditTopics, read_run, reconcile
    from precache.audit.render import text
    from precache.config import KafkaSettings, build_settings

    overrides: dict[str, Any] = {
        "kafka_bootstrap": kafka,
        "raw_topic": raw_topic,
        "dlq_topic": dlq_topic,
        "pipeline_dlq_topic": pipeline_dlq_topic,
        "completed_topic": completed_topic,
    }
    settings = build_settings(KafkaSettings, **overrides)
    ids = _accepted_ids(accepted) if accepted is not None else None
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # our own line says it, once
    s = settings
    topics = AuditTopics(s.raw_topic, s.dlq_topic, s.pipeline_dlq_topic, s.completed_topic)
    run = asyncio.run(read_run(settings, topics, timeout_s))
    report = reconcile(run, ids)
    if json:
        sys.stdout.write(orjson.dumps(report.to_json()).decode() + "\n")
    else:
        typer.echo(text(report, problems_only))
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEMS)


def _accepted_ids(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"--accepted {path}: {exc.strerror or exc}") from exc
    return [line.strip() for line in lines if line.strip()]
