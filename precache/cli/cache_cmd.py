"""``precache cache``: ask Nova to pre-cache images on an aggregate and follow that operation.

Exit statuses as ``precache watch``: 0 every host cached the images, 1 completed with failed
hosts, 2 stalled or not completed within --timeout; 3 the operation could not be started (bad
arguments, Nova or Kafka unreachable, Nova refused), one line on stderr.
"""

from typing import Annotated

import typer

from precache.cli.errors import one_line_errors
from precache.cli.watch_cmd import SOURCE_KEY, quiet_kafka_logs
from precache.errors import ConfigError
from precache.watch.kafka_source import open_kafka_source
from precache.watch.render.select import choose_renderer
from precache.watch.settings import load_watch_settings


@one_line_errors
def cache(
    ctx: typer.Context,
    aggregate: Annotated[
        str, typer.Argument(metavar="AGGREGATE", help="aggregate name, uuid or id")
    ],
    images: Annotated[
        list[str], typer.Argument(metavar="IMAGE...", help="image ids or names", show_default=False)
    ],
    os_cloud: str | None = typer.Option(
        None,
        "--os-cloud",
        envvar="OS_CLOUD",
        metavar="NAME",
        help="cloud in clouds.yaml (default: OS_CLOUD, else the OS_* variables)",
    ),
    region: str | None = typer.Option(
        None,
        metavar="R",
        help="precache region whose bridge carries this Nova's notifications "
        "[default: the cloud's region name]",
    ),
    timeout: float | None = typer.Option(
        None, min=0.001, metavar="S", help="exit 2 unless it completes within S seconds"
    ),
    json_lines: bool = typer.Option(False, "--json", help="print the CloudEvents, one per line"),
    plain: bool = typer.Option(False, "--plain", help="plain lines even on a terminal"),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="print the request and operation ids once Nova accepted; exit 0"
    ),
    then: str | None = typer.Option(
        None, metavar="CMD", help="shell command run when every host succeeded; its status is ours"
    ),
    kafka: str | None = typer.Option(None, metavar="HOST:PORT", help="Kafka bootstrap servers"),
) -> None:
    """Cache IMAGEs on every host of AGGREGATE through Nova, then follow that operation.

    Exit status: 0 every host succeeded, 1 completed with failed hosts, 2 stalled or timed out,
    3 not started (bad arguments, Nova or Kafka unreachable, Nova refused).
    """
    from precache.cache.run import CacheOptions, run_cache  # openstacksdk loads slowly
    from precache.cache.settings import CacheSettings

    if json_lines and plain:
        raise ConfigError("--json and --plain exclude each other")
    settings = load_watch_settings(kafka, CacheSettings)
    quiet_kafka_logs()
    options = CacheOptions(
        aggregate=aggregate,
        images=tuple(images),
        os_cloud=os_cloud,
        region=region,
        timeout_s=timeout,
        no_wait=no_wait,
        then=then,
    )
    open_source = (ctx.obj or {}).get(SOURCE_KEY, open_kafka_source)
    status = run_cache(settings, options, open_source, lambda: choose_renderer(json_lines, plain))
    raise typer.Exit(status)
