"""Which renderer a command uses: ``--json``, ``--plain``, or a live bar on a terminal."""

import sys

from rich.console import Console

from precache.watch.render import Renderer
from precache.watch.render.jsonl import JsonRenderer
from precache.watch.render.live import LiveRenderer
from precache.watch.render.plain import PlainRenderer


def choose_renderer(json_lines: bool, plain: bool) -> Renderer:
    if json_lines:
        return JsonRenderer(sys.stdout, sys.stderr)
    if plain or not sys.stdout.isatty():
        return PlainRenderer(sys.stdout, sys.stderr)
    return LiveRenderer(Console())
