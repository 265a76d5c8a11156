"""faust tables behind the engine's :class:`~pipeline.engine.Store` protocol."""

from collections.abc import Iterator
from typing import Any

from pipeline.operation import Marker, Summary


class TableStore:
    """Three changelog-backed tables, all partitioned like the raw topic.

    ``operations``: op id -> summary; ``hosts``: "op id|host" -> marker; ``expected``: op id ->
    start payload hosts (and "alias:region/aggregate" -> op id when Nova sent no request id).
    """

    def __init__(self, operations: Any, hosts: Any, expected: Any) -> None:
        self.operations = operations
        self.hosts = hosts
        self.expected = expected

    def get_summary(self, op_id: str) -> Summary | None:
        value: Summary | None = self.operations.get(op_id)
        return value

    def put_summary(self, op_id: str, summary: Summary) -> None:
        self.operations[op_id] = summary

    def get_marker(self, op_id: str, host: str) -> Marker | None:
        value: Marker | None = self.hosts.get(f"{op_id}|{host}")
        return value

    def put_marker(self, op_id: str, host: str, marker: Marker) -> None:
        self.hosts[f"{op_id}|{host}"] = marker

    def get_expected(self, op_id: str) -> list[str] | None:
        value: list[str] | None = self.expected.get(op_id)
        return value

    def put_expected(self, op_id: str, hosts: list[str]) -> None:
        self.expected[op_id] = hosts

    def get_alias(self, key: str) -> str | None:
        value: str | None = self.expected.get(f"alias:{key}")
        return value

    def put_alias(self, key: str, op_id: str) -> None:
        self.expected[f"alias:{key}"] = op_id

    def summaries(self) -> Iterator[tuple[str, Summary]]:
        return iter(self.operations.items())
