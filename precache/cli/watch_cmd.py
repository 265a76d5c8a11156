"""``precache watch``: wait for an image pre-cache operation and report how it ended.

Exit statuses: 0 every host cached the images, 1 completed with failed hosts, 2 stalled or not
completed within --timeout, 3 bad arguments or Kafka unreachable (one line on stderr).
"""

import asyncio
import logging
import sys
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from typer import _click  # typer vendors click; its UsageError is the one raised
from typer.core import TyperCommand

from precache import logs
from precache.cli.errors import EXIT_ERROR, one_line_errors
from precache.errors import ConfigError
from precache.watch import WatchOptions, WatchResult, WatchSettings, run_watch
from precache.watch.follow import Filters
from precache.watch.kafka_source import open_kafka_source
from precache.watch.render import Renderer
from precache.watch.render.jsonl import JsonRenderer
from precache.watch.render.live import LiveRenderer
from precache.watch.render.plain import PlainRenderer
from precache.watch.runner import run_then

SOURCE_KEY = "open_source"  # ctx.obj key through which tests feed events instead of Kafka


class OneLineUsageErrors(TyperCommand):
    """Bad arguments exit 3 with one line (click's default is 2, our "not completed")."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: _click.Context | None = None,
        **extra: Any,
    ) -> _click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _click.exceptions.UsageError as exc:
            typer.echo(f"error: {exc.format_message()}", err=True)
            raise typer.Exit(EXIT_ERROR) from exc


@one_line_errors
def watch(
    ctx: typer.Context,
    aggregate: str | None = typer.Option(
        None, metavar="NAME|UUID", help="aggregate name or uuid to follow"
    ),
    region: str | None = typer.Option(None, metavar="R", help="region to follow"),
    timeout: float | None = typer.Option(
        None, min=0.001, metavar="S", help="exit 2 unless it completes within S seconds"
    ),
    json_lines: bool = typer.Option(False, "--json", help="print the CloudEvents, one per line"),
    plain: bool = typer.Option(False, "--plain", help="plain lines even on a terminal"),
    then: str | None = typer.Option(
        None, metavar="CMD", help="shell command run when every host succeeded; its status is ours"
    ),
    kafka: str | None = typer.Option(None, metavar="HOST:PORT", help="Kafka bootstrap servers"),
) -> None:
    """Follow the first matching pre-cache operation until it completes.

    Exit status: 0 every host succeeded, 1 completed with failed hosts, 2 stalled or timed out,
    3 bad arguments or Kafka unreachable.
    """
    settings = _settings(kafka)
    logs.configure("WARNING")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # we report Kafka ourselves
    options = WatchOptions(Filters(aggregate, region), timeout)
    renderer = _renderer(json_lines, plain)
    open_source = (ctx.obj or {}).get(SOURCE_KEY, open_kafka_source)
    result = asyncio.run(run_watch(settings, options, open_source, renderer))
    if result is WatchResult.SUCCEEDED and then:
        raise typer.Exit(run_then(then))
    raise typer.Exit(int(result))


def _settings(kafka: str | None) -> WatchSettings:
    try:
        return WatchSettings(kafka_bootstrap=kafka) if kafka else WatchSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        name = "--kafka / PRECACHE_KAFKA_BOOTSTRAP" if field == "kafka_bootstrap" else field
        raise ConfigError(f"{name}: {err['msg']}") from exc


def _renderer(json_lines: bool, plain: bool) -> Renderer:
    if json_lines:
        return JsonRenderer(sys.stdout, sys.stderr)
    if plain or not sys.stdout.isatty():
        return PlainRenderer(sys.stdout, sys.stderr)
    return LiveRenderer(Console())
