"""Our own errors become one line on stderr and an exit status, never a traceback."""

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import typer
from typer import _click  # typer vendors click; its UsageError is the one raised
from typer.core import TyperCommand

from precache.errors import PrecacheError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_ERROR = 3  # PrecacheError.exit_status unless a class says otherwise
# what only the developer tools import: installed with the `tools` extra, not by the services
TOOL_MODULES = frozenset(
    {
        "oslo_messaging",
        "oslo_config",
        "oslo_context",
        "oslo_service",
        "eventlet",
        "yaml",
        "jsonschema",
    }
)


def one_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except PrecacheError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_status) from exc
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            if missing not in TOOL_MODULES:
                raise
            typer.echo(
                f"error: this is a developer tool and needs {missing}, which the services do "
                "not install: pip install 'precache[tools]'",
                err=True,
            )
            raise typer.Exit(EXIT_ERROR) from exc

    return wrapper


class OneLineUsageErrors(TyperCommand):
    """Bad arguments exit 3 with one line (click's default is 2, our "not completed")."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: _click.Context | None = None,
        **extra: Any,
    ) -> _click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _click.exceptions.UsageError as exc:
            typer.echo(f"error: {exc.format_message()}", err=True)
            raise typer.Exit(EXIT_ERROR) from exc


def warn_password_on_command_line(argv: Sequence[str] | None = None) -> None:
    """One line on stderr when ``--amqp-url`` carries a password: it works, but every user of
    the machine reads it in ``ps``; the password belongs in PRECACHE_AMQP_PASSWORD_FILE."""
    args = list(sys.argv[1:] if argv is None else argv)
    urls = [arg.partition("=")[2] for arg in args if arg.startswith("--amqp-url=")]
    urls += [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--amqp-url"]
    for url in urls:
        try:
            password = urlsplit(url).password
        except ValueError:
            continue  # a bad URL: the settings say so
        if password:
            typer.echo(
                "warning: the password in --amqp-url is visible to every user of this machine "
                "(ps): give it in PRECACHE_AMQP_PASSWORD_FILE instead",
                err=True,
            )
            return
