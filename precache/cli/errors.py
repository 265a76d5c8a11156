"""Our own errors become one line on stderr and an exit status, never a traceback."""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from precache.errors import PrecacheError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_ERROR = 3  # PrecacheError.exit_status unless a class says otherwise


def one_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except PrecacheError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_status) from exc

    return wrapper
