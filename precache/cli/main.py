"""Wires the sub-commands together; each lives in its own module."""

import typer

from precache.cli import demo_cmd, stack_cmd, worker_cmd

app = typer.Typer(
    name="precache",
    help="Know when a Nova image pre-cache has really finished.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stack_cmd.app, name="stack")
app.command("demo")(demo_cmd.demo)
app.command("worker")(worker_cmd.worker)
