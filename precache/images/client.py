"""GET the worker's inventory pages; any failure is one :class:`WorkerUnreachable` line."""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from precache.errors import ConfigError, WorkerUnreachable
from precache.images.settings import ImagesSettings


def get(
    settings: ImagesSettings, path: str, **query: str | Sequence[str] | None
) -> dict[str, Any] | None:
    """The JSON body of ``path``, or None for a 404 (nothing known by that name). A sequence
    is the parameter repeated (``?region=a&region=b``)."""
    params = [
        (k, item)
        for k, v in query.items() if v is not None
        for item in ([v] if isinstance(v, str) else v)
    ]  # fmt: skip
    url = settings.worker_url.rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=settings.connect_timeout_s) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        if exc.code == 400:
            raise ConfigError(_error_of(exc)) from exc
        raise WorkerUnreachable(f"worker at {settings.worker_url} answered {exc.code}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WorkerUnreachable(
            f"cannot read the inventory from the worker at {settings.worker_url} "
            f"(PRECACHE_WORKER_URL): {reason}"
        ) from exc


def _error_of(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("error", exc.reason))
    except ValueError:
        return str(exc.reason)
