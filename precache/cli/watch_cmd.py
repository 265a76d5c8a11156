"""``precache watch``: wait for an image pre-cache operation and report how it ended.

Exit statuses: 0 every host cached the images, 1 completed with failed hosts, 2 stalled or not
completed within --timeout, 3 bad arguments or Kafka unreachable (one line on stderr).
"""

import logging

import typer

from precache import logs
from precache.cli.errors import one_line_errors
from precache.watch import WatchOptions
from precache.watch.follow import Filters
from precache.watch.kafka_source import open_kafka_source
from precache.watch.render.select import choose_renderer
from precache.watch.runner import follow
from precache.watch.settings import WatchSettings, load_watch_settings

SOURCE_KEY = "open_source"  # ctx.obj key through which tests feed events instead of Kafka


@one_line_errors
def watch(
    ctx: typer.Context,
    aggregate: str | None = typer.Option(
        None, metavar="NAME|UUID", help="aggregate name or uuid to follow"
    ),
    region: str | None = typer.Option(None, metavar="R", help="region to follow"),
    request_id: str | None = typer.Option(
        None,
        metavar="ID",
        help="follow the operation of this request: Nova's x-openstack-request-id, or the "
        "global request id the client sent",
    ),
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
    """Follow the first matching pre-cache operation (or the one of --request-id) until it
    completes.

    Exit status: 0 every host succeeded, 1 completed with failed hosts, 2 stalled or timed out,
    3 bad arguments or Kafka unreachable.
    """
    settings = load_watch_settings(kafka, WatchSettings)
    quiet_kafka_logs()
    ids = frozenset({request_id}) if request_id else frozenset()
    options = WatchOptions(Filters(aggregate, region, ids), timeout)
    open_source = (ctx.obj or {}).get(SOURCE_KEY, open_kafka_source)
    renderer = choose_renderer(json_lines, plain)
    raise typer.Exit(follow(settings, options, open_source, renderer, then))


def quiet_kafka_logs() -> None:
    """Warnings only; aiokafka's own complaints are silenced: we report Kafka ourselves."""
    logs.configure("WARNING")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
