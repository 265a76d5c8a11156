"""``precache stack up|down|status``: the local RabbitMQ and Kafka."""

import time

import typer

from precache.cli.errors import one_line_errors
from precache.stack import BrokerStatus, StackSettings, stack_down, stack_status, stack_up

app = typer.Typer(help="Run a real RabbitMQ and Apache Kafka (KRaft) on this machine.")


def _print(statuses: list[BrokerStatus]) -> None:
    for s in statuses:
        state = "answering" if s.answering else ("starting" if s.running else "stopped")
        pid = f"pid {s.pid}" if s.pid else "no pid"
        note = " (started now)" if s.started_now else ""
        typer.echo(f"{s.name:<9} {s.address:<24} {state:<10} {pid}{note}  log: {s.log}")


@app.command()
@one_line_errors
def up() -> None:
    """Start both brokers (when not already running) and wait until they answer."""
    began = time.monotonic()
    statuses = stack_up(StackSettings())
    _print(statuses)
    typer.echo(f"stack up in {time.monotonic() - began:.1f}s")


@app.command()
@one_line_errors
def down() -> None:
    """Stop the brokers that `up` started."""
    stopped = stack_down(StackSettings())
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@app.command()
@one_line_errors
def status(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print nothing; exit 0 only if up"),
) -> None:
    """Say what is running where; exit 1 unless both brokers answer."""
    statuses = stack_status(StackSettings())
    if not quiet:
        _print(statuses)
    if not all(s.answering for s in statuses):
        raise typer.Exit(1)
