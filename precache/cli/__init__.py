"""The ``precache`` command: a thin layer over the library, one sub-command per job."""

from precache.cli.main import app

__all__ = ["app"]
