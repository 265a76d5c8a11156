"""Fence on faust internals: the worker's HTTP server has our routes and nothing else.

pipeline.web relies on faust's ``web_*_enabled`` settings and on the blueprint lists of
``faust.web.base.Web``; if a faust release adds a page or renames those lists, this fails.
"""

from pathlib import Path
from typing import Any

from precache.pipeline.app import build
from precache.pipeline.settings import WorkerSettings


def test_only_our_routes_are_registered(tmp_path: Path) -> None:
    pipeline = build(WorkerSettings(data_dir=tmp_path))
    web: Any = pipeline.app.web  # faust's aiohttp driver
    web.init_server()  # applies faust's blueprints and our pages to the aiohttp router
    routes = {resource.canonical for resource in web.web_app.router.resources()}
    assert routes == {
        "/operations",
        "/operations/",
        "/operations/{op_id}",
        "/stats",
        "/stats/",
        "/healthz",
        "/readyz",
        "/images",
        "/images/",
        "/images/{image}",
        "/hosts/{host}",
        "/aggregates/{aggregate}",
        "/rollouts",  # pipeline.rollout_web
        "/rollouts/",
        "/rollouts/{region}/{aggregate}",
        "/metrics",  # pipeline.metrics_view
        "/",  # pipeline.dashboard: our page, not faust's index
        "/static/{name}",
    }
