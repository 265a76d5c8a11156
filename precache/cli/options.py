"""Command options generated from a settings class, so ``--help`` can never drift from what
a service reads: one ``--option`` per field (booleans as ``--x/--no-x``), its description and
env var in the help, ``None`` (not given) falling back to ``PRECACHE_*`` env vars and defaults.

Secrets are never options (the process list would show them): env, ``_FILE`` or a config file.
"""

import inspect
import json
from collections.abc import Callable, Collection, Mapping
from enum import Enum
from typing import Any

import typer
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from precache.cli.errors import one_line_errors
from precache.config import ENV_PREFIX
from precache.errors import ConfigError

KAFKA_SECRETS = frozenset({"kafka_sasl_password", "kafka_ssl_key_password"})
ALIASES = {"kafka_bootstrap": ("--kafka",)}


def settings_command(
    settings: type[BaseSettings],
    run: Callable[..., None],
    *,
    exclude: Collection[str] = (),
    extra: Collection[inspect.Parameter] = (),
    aliases: Mapping[str, tuple[str, ...]] = ALIASES,
) -> Callable[..., None]:
    """``run`` as a typer command with ``extra`` parameters, then one keyword option per field
    of ``settings`` not in ``exclude``; its docstring is the command's help."""
    params = [*extra] + [
        _option(name, field, aliases.get(name, ()))
        for name, field in settings.model_fields.items()
        if name not in exclude
    ]

    fields = settings.model_fields.items()
    as_json = {name for name, field in fields if _is_json(field) and name not in exclude}

    @one_line_errors
    def command(**kwargs: Any) -> None:
        for name in as_json:
            if kwargs.get(name) is not None:
                kwargs[name] = _json_option(name, kwargs[name])
        run(**kwargs)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = run.__doc__
    return command


def _is_json(field: FieldInfo) -> bool:
    """A mapping setting: given as JSON, on the command line as in its env var (typer takes
    no dicts; a list is a repeated option)."""
    return getattr(field.annotation, "__origin__", None) is dict


def _json_option(name: str, value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        env = f"{ENV_PREFIX}{name}".upper()
        flag = "--" + name.replace("_", "-")
        raise ConfigError(f"setting {name} ({flag} / {env}): not JSON: {exc}") from exc


def _cli_type(field: FieldInfo) -> Any:
    annotation: Any = field.annotation
    if annotation is SecretStr or _is_json(field):
        return str | None
    return annotation | None


def _option(name: str, field: FieldInfo, aliases: tuple[str, ...]) -> inspect.Parameter:
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
        default=typer.Option(None, flag, *aliases, help=help_text, show_default=False),
        annotation=_cli_type(field),
    )
