"""Wires the sub-commands together, grouped in ``precache --help`` by who runs them; each
command lives in its own module."""

from collections.abc import Callable
from typing import Any

import typer

from precache.cli import (
    audit_cmd,
    bridge_cmd,
    cache_cmd,
    demo_cmd,
    images_cmd,
    nova_api_cmd,
    rollout_cmd,
    simulate_cmd,
    stack_cmd,
    watch_cmd,
    worker_cmd,
)
from precache.cli.errors import OneLineUsageErrors

SERVICES = "Services (run one per region / per worker)"
OPERATOR = "Operator tools"
DEVELOPER = "Developer tools (need the tools extra)"

app = typer.Typer(
    name="precache",
    help="Know when a Nova image pre-cache has really finished.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _add(name: str, command: Callable[..., Any], panel: str, summary: str) -> None:
    app.command(name, cls=OneLineUsageErrors, rich_help_panel=panel, short_help=summary)(command)


_add("bridge", bridge_cmd.command, SERVICES, "Nova's notifications from RabbitMQ into Kafka.")
bridge_queue = typer.Typer(help="The bridge's RabbitMQ queue.", no_args_is_help=True)
bridge_queue.command("migrate", cls=OneLineUsageErrors)(bridge_cmd.migrate_command)
app.add_typer(
    bridge_queue,
    name="bridge-queue",
    rich_help_panel=SERVICES,
    short_help="The bridge's RabbitMQ queue: migrate it for standby bridges.",
)
_add("worker", worker_cmd.command, SERVICES, "Follow every pre-cache; emit its derived events.")
_add("cache", cache_cmd.cache, OPERATOR, "Cache images on an aggregate through Nova; follow it.")
_add("watch", watch_cmd.watch, OPERATOR, "Follow a pre-cache operation until it ends.")
_add("audit", audit_cmd.audit, OPERATOR, "Reconcile a run: nothing lost, duplicated or wrong?")
_add("images", images_cmd.images, OPERATOR, "Which host has which image cached, until when.")
_add("rollout", rollout_cmd.rollout, OPERATOR, "Cache a policy's images until every gate holds.")
_add("keep-warm", rollout_cmd.keep_warm, OPERATOR, "Keep a policy's images cached, forever.")
app.add_typer(
    stack_cmd.app,
    name="stack",
    rich_help_panel=DEVELOPER,
    short_help="Run a real RabbitMQ and Kafka on this machine.",
)
_add("demo", demo_cmd.demo, DEVELOPER, "Nova's announcement example, end to end on this machine.")
_add("simulate", simulate_cmd.simulate, DEVELOPER, "Emit one pre-cache's notifications as Nova.")
_add("nova-api", nova_api_cmd.nova_api, DEVELOPER, "Serve a stand-in of Nova's image cache API.")
