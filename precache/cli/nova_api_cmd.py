"""``precache nova-api``: a stand-in for Nova's compute API, for the tests and the demo."""

from pathlib import Path
from typing import Annotated

import typer

from precache import logs
from precache.cli.errors import one_line_errors, warn_password_on_command_line


@one_line_errors
def nova_api(
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="JSON: aggregates, images, readers [default: the announcement]"
        ),
    ] = None,
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8774, help="port to listen on (Nova's is 8774)"),
    amqp_url: str | None = typer.Option(
        None, envvar="PRECACHE_AMQP_URL", help="RabbitMQ the conductor notifies", show_default=False
    ),
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING..."),
) -> None:
    """Serve Nova's aggregate image cache API; accepted requests run the conductor simulation.

    Clients reach it with openstacksdk: compute_endpoint_override http://HOST:PORT/v2.1,
    image_endpoint_override http://HOST:PORT/image, a noauth token such as admin:admin.
    """
    from precache.config import build_settings
    from precache.novaapi.config import load_config
    from precache.novaapi.server import serve
    from precache.simulate.settings import SimulateSettings

    logs.configure(log_level)
    stand_in = load_config(config)
    warn_password_on_command_line()
    settings = build_settings(SimulateSettings, amqp_url=amqp_url)
    serve(stand_in, settings, host, port)
