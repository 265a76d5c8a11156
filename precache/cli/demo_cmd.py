"""``precache demo``: the README's first command."""

import typer

from precache.cli.errors import one_line_errors
from precache.stack import StackSettings


@one_line_errors
def demo(
    hosts: int = typer.Option(95, help="hosts in the simulated aggregate"),
    failing: str = typer.Option("2-9", help="hosts whose download fails"),
    delay: float = typer.Option(0.8, help="seconds each host takes"),
    web_port: int = typer.Option(6066, help="the worker's HTTP view"),
    nova_port: int | None = typer.Option(
        None, help="port of the Nova API stand-in [default: a free port]", show_default=False
    ),
    keep_stack: bool = typer.Option(False, help="leave the brokers running afterwards"),
    stay: bool = typer.Option(
        False,
        help="after the operation, keep the worker's dashboard (and the rest) up until Ctrl-C",
    ),
    secure: bool = typer.Option(
        False, help="on the secure stack (stack up --secure): TLS, SASL_SSL, client certificates"
    ),
) -> None:
    """Nova's announcement example end to end: stack, bridge, worker, a Nova API stand-in,
    then `precache cache my-application c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2` through
    openstacksdk.

    Exits with its status: 1 here, since hosts guaranine2-9 fail on purpose.
    """
    from precache.demo.run import DemoOptions, run_demo

    options = DemoOptions(
        hosts=hosts,
        failing=failing,
        delay_s=delay,
        web_port=web_port,
        nova_port=nova_port,
        keep_stack=keep_stack,
        stay=stay,
    )
    stack = StackSettings()
    raise typer.Exit(run_demo(stack.secured(secure or stack.secure), options))
