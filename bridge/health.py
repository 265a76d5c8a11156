"""The bridge's HTTP port: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

One small threaded WSGI server (the standard library's, as prometheus_client's own
``start_http_server``), so ``/metrics`` still answers while the event loop is stuck, which is
what ``/healthz`` reports: it asks the loop to run a callback and waits ``LOOP_TIMEOUT_S``.
``/readyz`` is 200 while the bridge is connected to both brokers (active or standby: a hot
standby is ready to take over), else 503; both answer a short JSON body with the reason.
"""

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from precache.errors import ConfigError

LOOP_TIMEOUT_S = 2.0

Readiness = Callable[[], tuple[bool, dict[str, Any]]]
StartResponse = Callable[..., Any]


def loop_answers(loop: asyncio.AbstractEventLoop, timeout: float = LOOP_TIMEOUT_S) -> str | None:
    """None if ``loop`` ran a callback within ``timeout``; else why not."""
    answered = threading.Event()
    try:
        loop.call_soon_threadsafe(answered.set)
    except RuntimeError:  # closed
        return "the event loop is closed"
    if not answered.wait(timeout):
        return f"the event loop did not answer within {timeout:g} s"
    return None


class HealthApp:
    """WSGI: the two probes, and everything else to prometheus_client's exposition."""

    def __init__(
        self,
        registry: CollectorRegistry,
        loop: asyncio.AbstractEventLoop,
        readiness: Readiness,
    ) -> None:
        self._metrics = make_wsgi_app(registry)
        self._loop = loop
        self._readiness = readiness

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "").rstrip("/")
        if path == "/healthz":
            error = loop_answers(self._loop)
            body = {"status": "ok"} if error is None else {"status": "failing", "reason": error}
            return _json(start_response, error is None, body)
        if path == "/readyz":
            ready, body = self._readiness()
            return _json(start_response, ready, body)
        return self._metrics(environ, start_response)  # type: ignore[no-any-return]


def _json(start_response: StartResponse, ok: bool, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    status = "200 OK" if ok else "503 Service Unavailable"
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    start_response(status, headers)
    return [data]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes come every few seconds: no access log line for each."""


def serve(port: int, app: HealthApp, host: str = "0.0.0.0") -> WSGIServer | None:
    """Listen on ``port`` (0: not at all) in a daemon thread; the server, to shut it down."""
    if not port:
        return None
    try:
        server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    except OSError as exc:
        raise ConfigError(f"setting metrics_port: cannot listen on {port}: {exc}") from exc
    threading.Thread(target=server.serve_forever, name="bridge-http", daemon=True).start()
    return server
