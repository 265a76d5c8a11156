"""Runs the stand-in until SIGINT/SIGTERM."""

import sys

from aiohttp import web

from precache.novaapi.app import build_app
from precache.novaapi.conductor import Conductor
from precache.novaapi.config import StandInConfig
from precache.simulate.settings import SimulateSettings


def serve(config: StandInConfig, settings: SimulateSettings, host: str, port: int) -> None:
    app = build_app(config, Conductor(settings))
    url = f"http://{host}:{port}"
    names = ", ".join(f"'{a.name}' (id {a.id}, {a.hosts} hosts)" for a in config.aggregates)
    print(
        f"nova-api stand-in on {url}: compute {url}/v2.1, image {url}/image; aggregates {names}",
        file=sys.stderr,
        flush=True,
    )
    web.run_app(app, host=host, port=port, print=None, access_log=None, handle_signals=True)
