"""The event contract as a consumer outside Python checks it: the committed JSON Schemas of the
derived events (schemas/), the contract's models, and the CloudEvents Kafka binding."""

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

from precache import contract
from precache.contract.kafka_binding import is_structured

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def schema_validator(event_type: str) -> jsonschema.Draft202012Validator:
    """The committed schema of ``event_type`` (schemas/)."""
    schema = json.loads((ROOT / "schemas" / f"{event_type}.json").read_text())
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def validate(event: dict[str, Any]) -> None:
    """``event`` against the committed schema of its type and the contract's models."""
    schema_validator(event["type"]).validate(event)
    contract.decode(event)


def derived_event(record: Any) -> dict[str, Any]:
    """A derived event as read from Kafka, checked against the contract: the schema of its
    type, and the Kafka binding (structured mode header; key = partitionkey = subject)."""
    event: dict[str, Any] = json.loads(record.value)
    validate(event)
    raw = record.headers or ()
    pairs = raw.items() if isinstance(raw, dict) else raw  # audit records: decoded text
    headers = [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in pairs]
    assert is_structured(headers), headers
    assert record.key.decode() == event["partitionkey"] == event["subject"]
    return event
