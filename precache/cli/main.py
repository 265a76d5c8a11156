"""Wires the sub-commands together; each lives in its own module."""

import typer

from precache.cli import (
    audit_cmd,
    bridge_cmd,
    demo_cmd,
    simulate_cmd,
    stack_cmd,
    watch_cmd,
    worker_cmd,
)

app = typer.Typer(
    name="precache",
    help="Know when a Nova image pre-cache has really finished.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stack_cmd.app, name="stack")
app.command("demo")(demo_cmd.demo)
app.command("bridge")(bridge_cmd.command)
app.command("simulate")(simulate_cmd.simulate)
app.command("watch", cls=watch_cmd.OneLineUsageErrors)(watch_cmd.watch)
app.command("worker")(worker_cmd.worker)
app.command("audit", cls=watch_cmd.OneLineUsageErrors)(audit_cmd.audit)
