"""``precache stack up|down|status``: the local RabbitMQ and Kafka."""

import shlex
import time

import typer

from precache.cli.errors import one_line_errors
from precache.stack import BrokerStatus, StackSettings, stack_down, stack_status, stack_up
from precache.stack.clients import client_env

app = typer.Typer(help="Run a real RabbitMQ and Apache Kafka (KRaft) on this machine.")

_SECURE = typer.Option(
    False,
    "--secure",
    help="the secure stack: RabbitMQ over TLS only, Kafka SASL_SSL (SCRAM-SHA-512) only, with "
    "a CA, certificates and passwords made in the state folder (own ports: "
    "PRECACHE_STACK_AMQPS_PORT, PRECACHE_STACK_KAFKA_SASL_PORT; env PRECACHE_STACK_SECURE)",
)


def _settings(secure: bool) -> StackSettings:
    settings = StackSettings()
    return settings.secured(secure or settings.secure)


def _print(statuses: list[BrokerStatus]) -> None:
    for s in statuses:
        state = "answering" if s.answering else ("starting" if s.running else "stopped")
        pid = f"pid {s.pid}" if s.pid else "no pid"
        note = " (started now)" if s.started_now else ""
        typer.echo(f"{s.name:<9} {s.address:<24} {state:<10} {pid}{note}  log: {s.log}")


@app.command()
@one_line_errors
def up(secure: bool = _SECURE) -> None:
    """Start both brokers (when not already running) and wait until they answer."""
    began = time.monotonic()
    statuses = stack_up(_settings(secure))
    _print(statuses)
    typer.echo(f"stack up in {time.monotonic() - began:.1f}s")


@app.command()
@one_line_errors
def down(secure: bool = _SECURE) -> None:
    """Stop the brokers that `up` started."""
    stopped = stack_down(_settings(secure))
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@app.command()
@one_line_errors
def status(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print nothing; exit 0 only if up"),
    secure: bool = _SECURE,
) -> None:
    """Say what is running where; exit 1 unless both brokers answer."""
    statuses = stack_status(_settings(secure))
    if not quiet:
        _print(statuses)
    if not all(s.answering for s in statuses):
        raise typer.Exit(1)


@app.command()
@one_line_errors
def env(secure: bool = _SECURE) -> None:
    """Print the `export PRECACHE_...` lines that point every component at this stack.

    Passwords appear only as file paths (``..._PASSWORD_FILE``); use `eval "$(precache stack
    env)"`. Variables the other kind of stack would set are unset.
    """
    for name, value in client_env(_settings(secure)).items():
        typer.echo(f"unset {name}" if value is None else f"export {name}={shlex.quote(value)}")
