"""Hand-built raw records for the reference and reconciliation tests."""

from typing import Any

import orjson

from bench.synthetic import SyntheticOperation, oslo_record
from precache.audit.records import AuditRecord


class Log:
    """Raw records of one partition, offsets in append order."""

    def __init__(self, topic: str = "raw") -> None:
        self.topic = topic
        self.records: list[AuditRecord] = []

    def add(self, record: tuple[bytes, bytes, list[tuple[str, bytes]]]) -> AuditRecord:
        key, value, headers = record
        out = AuditRecord(
            self.topic, 0, len(self.records), key, value, {k: v.decode() for k, v in headers}
        )
        self.records.append(out)
        return out

    def add_message(self, message: dict[str, Any], region: str = "region-a") -> AuditRecord:
        return self.add(oslo_record(message, region))

    def ref(self, record: AuditRecord) -> tuple[int, int]:
        return record.partition, record.offset


def op_id(op: SyntheticOperation) -> str:
    return f"{op.region}/{op.aggregate_uuid}/{op.request_id}"


def with_data(record: tuple[bytes, bytes, list[tuple[str, bytes]]], **data: Any) -> Any:
    """The same record with fields of ``nova_object.data`` replaced."""
    key, value, headers = record
    message = orjson.loads(value)
    message["payload"]["nova_object.data"].update(data)
    return key, orjson.dumps(message), headers
