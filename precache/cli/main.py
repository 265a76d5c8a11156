"""Wires the sub-commands together; each lives in its own module."""

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

app = typer.Typer(
    name="precache",
    help="Know when a Nova image pre-cache has really finished.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stack_cmd.app, name="stack")
app.command("demo", cls=watch_cmd.OneLineUsageErrors)(demo_cmd.demo)
app.command("bridge", cls=watch_cmd.OneLineUsageErrors)(bridge_cmd.command)
bridge_queue = typer.Typer(help="The bridge's RabbitMQ queue.", no_args_is_help=True)
bridge_queue.command("migrate", cls=watch_cmd.OneLineUsageErrors)(bridge_cmd.migrate_command)
app.add_typer(bridge_queue, name="bridge-queue")
app.command("simulate", cls=watch_cmd.OneLineUsageErrors)(simulate_cmd.simulate)
app.command("watch", cls=watch_cmd.OneLineUsageErrors)(watch_cmd.watch)
app.command("worker", cls=watch_cmd.OneLineUsageErrors)(worker_cmd.worker)
app.command("cache", cls=watch_cmd.OneLineUsageErrors)(cache_cmd.cache)
app.command("nova-api", cls=watch_cmd.OneLineUsageErrors)(nova_api_cmd.nova_api)
app.command("audit", cls=watch_cmd.OneLineUsageErrors)(audit_cmd.audit)
app.command("images", cls=watch_cmd.OneLineUsageErrors)(images_cmd.images)
app.command("rollout", cls=watch_cmd.OneLineUsageErrors)(rollout_cmd.rollout)
app.command("keep-warm", cls=watch_cmd.OneLineUsageErrors)(rollout_cmd.keep_warm)
