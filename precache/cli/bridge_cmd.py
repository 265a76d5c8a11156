"""``precache bridge``: one region's Nova notifications from RabbitMQ into Kafka.

Every BridgeSettings field is an option, generated from the settings so ``--help`` can never
drift from what the bridge reads; unset options fall back to ``PRECACHE_*`` env vars, then to
the ``--config`` TOML file, then to the defaults.
"""

import asyncio
import inspect
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from precache import kafka_backoff, logs
from precache.bridge.backoff import limit_library_logs
from precache.bridge.migrate import migrate
from precache.bridge.service import serve
from precache.bridge.settings import BridgeSettings, load_settings
from precache.cli.errors import one_line_errors, warn_password_on_command_line
from precache.config import ENV_PREFIX

# topics of the pipeline, which the bridge neither reads nor writes
_NOT_OURS = {"pipeline_dlq_topic", "status_topic", "completed_topic", "host_failed_topic"}
_NOT_OURS |= {"stalled_topic"}
# secrets are never options (the process list shows them): env, _FILE or the config file
_SECRETS = {"amqp_password", "kafka_sasl_password", "kafka_ssl_key_password"}
_ALIASES = {"kafka_bootstrap": ("--kafka",)}


def bridge(config: Path | None = None, **options: Any) -> None:
    """Consume Nova's versioned notifications from RabbitMQ and produce them into Kafka."""
    warn_password_on_command_line()
    settings = load_settings(config, **options)
    logs.configure(settings.log_level)
    limit_library_logs()
    kafka_backoff.install(settings.retry_backoff_max_s)
    asyncio.run(serve(settings))


def _cli_type(field: FieldInfo) -> Any:
    annotation: Any = field.annotation
    if annotation is SecretStr:
        return str | None
    return annotation | None


def _option(name: str, field: FieldInfo) -> inspect.Parameter:
    flag = "--" + name.replace("_", "-")
    if field.annotation is bool:
        flag = f"{flag}/--no-{name.replace('_', '-')}"
    default = field.default
    if isinstance(default, SecretStr):
        default = "(secret)"
    elif isinstance(default, Enum):
        default = default.value
    # parentheses, not brackets: rich (typer's help) would take "[env ...]" for markup and drop it
    help_text = f"{field.description or ''} (env {ENV_PREFIX}{name.upper()}; default {default})"
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(
            None, flag, *_ALIASES.get(name, ()), help=help_text, show_default=False
        ),
        annotation=_cli_type(field),
    )


def migrate_queue(config: Path | None = None, **options: Any) -> None:
    """Give the bridge's existing queue x-single-active-consumer (for standby bridges): its
    messages are moved through a temporary queue, none lost. Stop its bridges first."""
    settings = load_settings(config, **options)
    logs.configure(settings.log_level)
    moved = migrate(settings)
    for queue, count in moved.items():
        typer.echo(f"{queue}: x-single-active-consumer, {count} messages moved")


def _command(run: Callable[..., None] = bridge) -> Any:
    """``run`` with one keyword parameter per setting, as typer reads signatures."""
    config = inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(
            None, "--config", help="TOML file of settings (same names as the options)"
        ),
        annotation=Path | None,
    )
    params = [config] + [
        _option(name, field)
        for name, field in BridgeSettings.model_fields.items()
        if name not in _NOT_OURS | _SECRETS
    ]

    @one_line_errors
    def command(**kwargs: Any) -> None:
        run(**kwargs)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = run.__doc__
    return command


command = _command()
migrate_command = _command(migrate_queue)
