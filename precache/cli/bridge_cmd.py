"""``precache bridge``: one region's Nova notifications from RabbitMQ into Kafka.

Every BridgeSettings field is an option, generated from the settings (:mod:`precache.cli.options`)
so ``--help`` can never drift from what the bridge reads; unset options fall back to
``PRECACHE_*`` env vars, then to the ``--config`` TOML file, then to the defaults.
``precache bridge-queue migrate`` takes the same options.
"""

import asyncio
import inspect
from pathlib import Path
from typing import Any

import typer

from precache import kafka_backoff, logs
from precache.bridge.backoff import limit_library_logs
from precache.bridge.migrate import migrate
from precache.bridge.service import serve
from precache.bridge.settings import BridgeSettings, load_settings
from precache.cli.errors import warn_password_on_command_line
from precache.cli.options import KAFKA_SECRETS, settings_command

# secrets are never options (the process list shows them): env, _FILE or the config file
_SECRETS = KAFKA_SECRETS | {"amqp_password"}


def bridge(config: Path | None = None, **options: Any) -> None:
    """Consume Nova's versioned notifications from RabbitMQ and produce them into Kafka."""
    warn_password_on_command_line()
    settings = load_settings(config, **options)
    logs.configure(settings.log_level)
    limit_library_logs()
    kafka_backoff.install(settings.retry_backoff_max_s)
    asyncio.run(serve(settings))


def migrate_queue(config: Path | None = None, **options: Any) -> None:
    """Give the bridge's existing queue x-single-active-consumer (for standby bridges): its
    messages are moved through a temporary queue, none lost. Stop its bridges first."""
    settings = load_settings(config, **options)
    logs.configure(settings.log_level)
    moved = migrate(settings)
    for queue, count in moved.items():
        typer.echo(f"{queue}: x-single-active-consumer, {count} messages moved")


_CONFIG = inspect.Parameter(
    "config",
    inspect.Parameter.KEYWORD_ONLY,
    default=typer.Option(
        None, "--config", help="TOML file of settings (same names as the options)"
    ),
    annotation=Path | None,
)

command = settings_command(BridgeSettings, bridge, exclude=_SECRETS, extra=[_CONFIG])
migrate_command = settings_command(BridgeSettings, migrate_queue, exclude=_SECRETS, extra=[_CONFIG])
