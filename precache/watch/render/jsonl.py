"""``--json``: the followed operation's CloudEvents, one per line, as read; for scripts.

stdout carries only events; waiting and the reason a watch gave up go to stderr.
"""

from typing import TextIO

import orjson

from precache.watch.escape import json_printable, printable
from precache.watch.follow import Filters, Update
from precache.watch.render import describe
from precache.watch.summary import Summary


class JsonRenderer:
    def __init__(self, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err
        self._printed: set[str] = set()

    def waiting(self, filters: Filters) -> None:
        text = f"Waiting for an image cache operation{describe(filters)}"
        print(printable(text), file=self._err)

    def update(self, update: Update) -> None:
        if update.event.id in self._printed:  # one event can start and complete a follow
            return
        self._printed.add(update.event.id)
        self._out.write(json_printable(orjson.dumps(update.event.raw).decode()) + "\n")
        self._out.flush()

    def finished(self, summary: Summary) -> None:
        return

    def gave_up(self, reason: str) -> None:
        print(printable(reason), file=self._err, flush=True)

    def close(self) -> None:
        self._out.flush()
