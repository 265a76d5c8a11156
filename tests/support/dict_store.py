"""An in-memory :class:`~precache.pipeline.engine.Store`: the rules' tests run the engine on it
(the worker runs it on a faust table, ``pipeline/store.py``)."""

from collections.abc import Iterator

from precache.pipeline.engine import is_open
from precache.pipeline.operation import HELD, HeldEntry, Marker, Summary, as_held


class DictStore:
    """In-memory store: summaries, markers, host lists and aliases in dicts."""

    def __init__(self) -> None:
        self.summary: dict[str, Summary] = {}
        self.markers: dict[tuple[str, str], Marker] = {}
        self.expected: dict[str, list[str]] = {}
        self.aliases: dict[str, str] = {}
        self.forgotten: set[str] = set()

    def get_summary(self, op_id: str) -> Summary | None:
        return self.summary.get(op_id)

    def put_summary(self, op_id: str, summary: Summary) -> None:
        self.summary[op_id] = summary

    def get_marker(self, op_id: str, host: str) -> Marker | None:
        return self.markers.get((op_id, host))

    def put_markers(self, op_id: str, chunk: int, markers: dict[str, Marker]) -> None:
        for host, marker in markers.items():
            self.markers[(op_id, host)] = marker

    def get_expected(self, op_id: str) -> list[str] | None:
        return self.expected.get(op_id)

    def is_listed(self, op_id: str, host: str) -> bool:
        return host in self.expected.get(op_id, ())

    def held(self, op_id: str) -> list[tuple[str, HeldEntry]]:
        mine = self.markers.items()
        return [(k, as_held(m)) for (op, k), m in mine if op == op_id and k.startswith(HELD)]

    def put_expected(self, op_id: str, hosts: list[str]) -> None:
        self.expected[op_id] = hosts

    def get_alias(self, key: str) -> str | None:
        return self.aliases.get(key)

    def put_alias(self, key: str, op_id: str) -> None:
        self.aliases[key] = op_id

    def open_summaries(self, partition: int) -> Iterator[tuple[str, Summary]]:
        for op_id, s in self.summary.items():
            if s["partition"] == partition and is_open(s):
                yield op_id, s

    def is_forgotten(self, op_id: str) -> bool:
        return op_id in self.forgotten

    def expired(self, partition: int, before: float) -> list[str]:
        return [
            op_id
            for op_id, s in self.summary.items()
            if s["partition"] == partition and s.get("completed_wall", before) < before
        ]

    def forget(self, op_id: str) -> None:
        self.summary.pop(op_id, None)
        self.expected.pop(op_id, None)
        self.markers = {k: m for k, m in self.markers.items() if k[0] != op_id}
        self.forgotten.add(op_id)
