"""The dashboard: one page at ``/`` that follows the operations, served by any worker.

The page is static (HTML, CSS and a little JavaScript shipped in the package, nothing from
the network: management networks have no internet). It polls ``GET /operations``, the routed
read every worker answers for the whole cluster (:mod:`pipeline.web`), so the page is the same
whichever worker serves it. Progress, rate, time left and the failed hosts' reasons are worked
out in the browser from that JSON; the server adds no second view of the state.
"""

from importlib import resources
from typing import Any

from precache.pipeline.context import Pipeline

STATIC = "dashboard_static"
FILES = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
}
# the page runs only its own files and talks only to its own worker
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def read(name: str) -> bytes:
    return resources.files("precache.pipeline").joinpath(STATIC, name).read_bytes()


def attach(p: Pipeline) -> None:
    index = read("index.html").decode()
    files = {name: (read(name), ctype) for name, ctype in FILES.items()}

    async def page(view: Any, request: Any) -> Any:
        return view.html(index, headers=dict(HEADERS))

    async def static(view: Any, request: Any, name: str) -> Any:
        if name not in files:
            return view.json({"error": "not found", "file": name}, status=404)
        body, ctype = files[name]
        return view.bytes(body, content_type=ctype, headers=dict(HEADERS))

    p.app.page("/", name="dashboard")(page)
    p.app.page("/static/{name}", name="dashboard-static")(static)
