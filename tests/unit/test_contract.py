"""The event contract: schemas/ is what the models say, and the models hold the wire format."""

import json
import uuid
from pathlib import Path

import pytest

from precache import contract
from precache.contract import kafka_binding, schemas
from precache.contract.events import MODELS, EventType
from tests.support.watch_events import completed, host_failed, stalled, status

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schemas_are_what_the_models_write() -> None:
    """Fails when a model changes and `python -m precache.contract.schemas` was not run."""
    written = schemas.files()
    committed = {p.name: p.read_text() for p in (ROOT / "schemas").glob("*.json")}
    assert committed == written


def test_the_schema_command_reports_drift_and_rewrites(tmp_path: Path) -> None:
    assert schemas.main([str(tmp_path), "--check"]) == 1  # nothing written yet: every file drifts
    assert schemas.main([str(tmp_path)]) == 0
    assert schemas.main([str(tmp_path), "--check"]) == 0
    first = tmp_path / f"{EventType.STATUS.value}.json"
    first.write_text(first.read_text().replace('"minimum": 0', '"minimum": 1'))
    assert schemas.main([str(tmp_path), "--check"]) == 1
    (tmp_path / "precache.operation.unknown.json").write_text("{}")
    assert schemas.main([str(tmp_path)]) == 1  # a file of no event type is named, not kept quiet


def test_every_event_type_has_a_schema_naming_its_type() -> None:
    for kind in EventType:
        schema = json.loads((ROOT / "schemas" / f"{kind.value}.json").read_text())
        assert schema["properties"]["type"]["const"] == kind.value
        assert "partitionkey" in schema["required"]
        assert MODELS[kind].model_json_schema()["properties"]["type"]["const"] == kind.value


@pytest.mark.parametrize("build", [status, completed, stalled, lambda: host_failed("h1")])
def test_an_event_round_trips_byte_for_byte(build) -> None:
    raw = build()
    event = contract.decode(raw)
    assert json.loads(contract.encode(event)) == raw
    assert contract.encode(contract.decode(contract.encode(event))) == contract.encode(event)


def test_times_are_utc_text_with_any_fraction_and_parse_to_the_same_instant() -> None:
    raw = status()
    raw["data"]["started_at"] = "2026-11-23T12:00:00Z"
    raw["time"] = "2026-11-23T12:00:00.5Z"
    event = contract.decode(raw)
    assert isinstance(event.data, contract.OperationData)
    assert contract.parse_time(event.time) == contract.parse_time("2026-11-23T12:00:00.500000Z")
    assert contract.canonical_time(contract.parse_time(event.data.started_at)) == (
        "2026-11-23T12:00:00.000000Z"
    )
    for bad in ("2026-11-23T12:00:00+01:00", "2026-11-23 12:00:00Z", "yesterday"):
        with pytest.raises(contract.InvalidEvent, match="time"):
            contract.decode({**raw, "time": bad})


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda e: e.pop("specversion"), "specversion"),
        (lambda e: e.update(id="not-a-uuid"), "id"),
        (lambda e: e.update(type="precache.operation.other"), "type"),
        (lambda e: e["data"].update(hosts_reported=-1), "hosts_reported"),
        (lambda e: e["data"].update(percent=100.5), "percent"),
        (lambda e: e["data"].update(state="done"), "state"),
        (lambda e: e["data"].update(started_at="2026-11-23 12:00"), "started_at"),
        (lambda e: e["data"]["aggregate"].update(uuid=""), "uuid"),
        (lambda e: e.update(source="precache"), "source"),
    ],
)
def test_an_event_that_breaks_the_contract_is_refused_with_the_field(change, where) -> None:
    raw = status()
    change(raw)
    with pytest.raises(contract.InvalidEvent, match=where):
        contract.decode(raw)


def test_unknown_fields_are_ignored_so_adding_one_is_compatible() -> None:
    raw = status()
    raw["data"]["new_field"] = 1
    raw["traceparent"] = "00-abc"
    assert contract.decode(raw).data.operation_id == raw["subject"]


def test_the_kafka_binding_is_structured_mode_keyed_by_the_operation() -> None:
    event = contract.decode(completed())
    assert kafka_binding.record_key(event) == event.subject.encode()
    assert kafka_binding.is_structured(list(kafka_binding.HEADERS))
    assert kafka_binding.is_structured([("Content-Type", b"application/cloudevents+json")])
    assert not kafka_binding.is_structured([("content-type", b"application/json")])
    assert not kafka_binding.is_structured(None)


def test_event_ids_are_uuids_on_the_wire() -> None:
    raw = json.loads(contract.encode(contract.decode(host_failed("h1"))))
    assert str(uuid.UUID(raw["id"])) == raw["id"]
