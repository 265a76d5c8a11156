"""The fuzz suite's generator: repeatable for a seed, every mutation kind drawn, and every
expected dead-letter reason one the contract defines."""

import json

from precache.audit.records import AuditRecord
from precache.audit.reference import compute
from tests.support.fuzz import OP_MUTATIONS, REGION, FuzzRun, Item, generate
from tests.support.publishers import inner_message

CONTRACT_REASONS = {
    "not_json", "not_object", "bad_payload", "bad_aggregate", "bad_timestamp", "bad_request_id",
    "bad_region", "bad_host", "bad_hosts", "duplicate_host", "bad_total", "bad_images",
    "unknown_event", "no_hosts", "host_not_in_operation", "total_mismatch",
}  # fmt: skip
BRIDGE_REASONS = {"not_utf8", "not_json", "not_envelope", "no_event_type", "too_large"}


def test_same_seed_same_run_and_every_kind_appears() -> None:
    first, again = generate(11, 800), generate(11, 800)
    assert first.mutated() >= 800
    assert sum(op.mutation in ("valid", "valid_unicode") for op in first.ops) >= len(first.ops) / 4
    assert [(i.label, i.body, i.payload) for i in first.order] == [
        (i.label, i.body, i.payload) for i in again.order
    ]
    assert {op.mutation for op in first.ops} == set(OP_MUTATIONS)
    assert len({op.aggregate_uuid for op in first.ops}) == len(first.ops)


def test_expected_reasons_are_the_contracts() -> None:
    run = generate(12, 800)
    items = [i for op in run.ops for i in op.items] + run.junk
    assert set().union(*(i.fate.dlq for i in items)) <= CONTRACT_REASONS
    assert set().union(*(i.fate.bridge for i in items)) <= BRIDGE_REASONS
    valid = [op for op in run.ops if op.mutation == "valid"]
    assert valid
    assert all(not i.fate.dlq for op in valid for i in op.items)


def raw_records(run: FuzzRun) -> tuple[list[AuditRecord], dict[int, Item]]:
    """What the bridge would write for the run's bodies (those it would not dead-letter)."""
    records: list[AuditRecord] = []
    items: dict[int, Item] = {}
    for item in run.order:
        if item.fate.bridge:
            continue
        if item.body is not None:
            message = json.loads(json.loads(item.body)["oslo.message"])
        else:
            stamp = f"2026-11-29 10:{len(records) // 60 % 60:02d}:{len(records) % 60:02d}.5"
            message = inner_message(item.event_type or "", item.payload, item.request_id)
            message["timestamp"] = stamp
        headers = {"region": REGION, "event_type": str(message.get("event_type"))}
        value = json.dumps(message).encode()  # json: orjson refuses 10**30
        items[len(records)] = item
        records.append(AuditRecord("raw", 0, len(records), None, value, headers))
    return records, items


def test_constructed_expectations_agree_with_the_reference_computation() -> None:
    """Two independent statements of the rules: the fuzz's by construction, the audit's by
    replay (whose input validation is the worker's parser). Every operation's outcome and
    every dead letter must agree."""
    run = generate(13, 1000)
    records, items = raw_records(run)
    reference = compute(records)
    for op in run.ops:
        expected = reference.operations[op.operation_id]
        if not op.completes:
            assert not expected.candidates, op.mutation
            continue
        c = expected.candidates[-1]
        got = {
            "hosts_total": c.hosts_total,
            "hosts_reported": c.hosts_reported,
            "hosts_failed": c.hosts_failed,
            "failed_hosts": set(c.failed_hosts),
            "missing_hosts": set(c.missing_hosts),
            "image_failures": dict(c.image_failures),
            "outcome": c.outcome,
        }
        assert got == op.expected(), op.mutation
    for offset, item in items.items():
        reason = reference.dead_letters.get((0, offset))
        assert (reason is not None) >= item.fate.must_dlq, item.label
        assert reason is None or reason in item.fate.dlq, (item.label, reason)
