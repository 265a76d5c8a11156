"""``precache simulate``: one image pre-cache operation, sent the way Nova's conductor sends it.

Exit statuses: 0 every notification was sent; 3 bad arguments, RabbitMQ unreachable or
refusing us, or a notification lost on the way (one line on stderr).
"""

import logging
import uuid
from typing import Annotated

import typer

from precache.cli.errors import one_line_errors, warn_password_on_command_line
from precache.config import build_settings
from precache.simulate.plan import DEMO_IMAGE, SimulationPlan, parse_host_ranges
from precache.simulate.settings import SimulateSettings


@one_line_errors
def simulate(
    hosts: int = typer.Option(95, help="hosts in the aggregate"),
    host_prefix: str = typer.Option("guaranine", help="host names are PREFIX1..PREFIXn"),
    image: Annotated[
        list[str] | None,
        typer.Option(help=f"image id to cache (repeatable) [default: {DEMO_IMAGE}]"),
    ] = None,
    aggregate_name: str = typer.Option("my-application"),
    aggregate_uuid: str | None = typer.Option(None, help="default: a new uuid"),
    aggregate_id: int = typer.Option(2),
    failing: str = typer.Option("", help="hosts whose download fails, e.g. 2-9,12"),
    down: str = typer.Option("", help="hosts whose compute service is down"),
    unsupported: str = typer.Option("", help="hosts whose virt driver cannot cache"),
    no_report: str = typer.Option("", help="hosts whose RPC times out: no progress at all"),
    delay: float = typer.Option(0.0, help="seconds each host takes"),
    concurrency: int = typer.Option(8, help="conductor's worker pool size"),
    stop_after: int | None = typer.Option(
        None, help="send only this many progress notifications and no end (a conductor crash)"
    ),
    end: bool = typer.Option(True, help="send the end notification"),
    request_id: str | None = typer.Option(None, help="default: req-<new uuid>"),
    region: str = typer.Option("local", envvar="PRECACHE_REGION", help="for the operation id"),
    amqp_url: str | None = typer.Option(
        None, envvar="PRECACHE_AMQP_URL", help="RabbitMQ to publish to", show_default=False
    ),
) -> None:
    """Emit one aggregate image cache operation through oslo.messaging's Notifier."""
    warn_password_on_command_line()
    settings = build_settings(SimulateSettings, amqp_url=amqp_url)
    plan = SimulationPlan(
        hosts=hosts,
        host_prefix=host_prefix,
        images=tuple(image or [DEMO_IMAGE]),
        aggregate_name=aggregate_name,
        aggregate_uuid=aggregate_uuid or str(uuid.uuid4()),
        aggregate_id=aggregate_id,
        failing=parse_host_ranges(failing),
        down=parse_host_ranges(down),
        unsupported=parse_host_ranges(unsupported),
        no_report=parse_host_ranges(no_report),
        delay_s=delay,
        concurrency=concurrency,
        request_id=request_id or f"req-{uuid.uuid4()}",
        stop_after=stop_after,
        send_end=end,
    )
    target = settings.amqp_url_masked
    op_id = f"{region}/{plan.aggregate_uuid}/{plan.request_id}"
    typer.echo(f"operation {op_id}: {hosts} hosts of '{aggregate_name}' -> {target}")
    from precache.simulate.conductor import simulate_operation  # oslo.messaging loads slowly

    # oslo logs each failed send with a traceback (and retries at ERROR); our one line says it
    oslo = logging.getLogger("oslo_messaging")
    oslo.addHandler(logging.NullHandler())
    oslo.propagate = False

    result = simulate_operation(settings, plan)
    typer.echo(
        f"sent start, {result.progress_sent} progress, {'end' if result.end_sent else 'no end'}; "
        f"{len(result.failed_hosts)} hosts failed, {len(result.silent_hosts)} sent nothing"
    )
