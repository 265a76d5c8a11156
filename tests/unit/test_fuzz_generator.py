"""The fuzz suite's generator: repeatable for a seed, every mutation kind drawn, and every
expected dead-letter reason one the contract defines."""

import json
from typing import Any

import pytest

from precache.audit.records import AuditRecord
from precache.audit.reference import compute
from precache.pipeline.inventory import Entry, Membership, Touch, merge, merge_membership
from precache.pipeline.inventory_input import parse_other
from precache.pipeline.notifications import MalformedNotification
from tests.support.fuzz import OP_MUTATIONS, REGION, FuzzRun, generate
from tests.support.fuzz_inventory import KINDS, VALID_KINDS, InventoryCase
from tests.support.fuzz_items import Item
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
    assert {c.kind for c in first.inventory} == set(KINDS)
    assert len(first.inventory) == len(first.ops)
    assert sum(c.valid for c in first.inventory) >= len(first.inventory) / 4
    assert {i.label for i in first.order} >= {i.label for c in first.inventory for i in c.items}


def test_expected_reasons_are_the_contracts() -> None:
    run = generate(12, 800)
    items = run.items()
    assert set().union(*(i.fate.dlq for i in items)) <= CONTRACT_REASONS
    assert set().union(*(i.fate.bridge for i in items)) <= BRIDGE_REASONS
    valid = [op for op in run.ops if op.mutation == "valid"]
    assert valid
    assert all(not i.fate.dlq for op in valid for i in op.items)
    assert all(not i.fate.dlq for c in run.inventory if c.valid for i in c.items)
    assert any(i.fate.must_dlq for c in run.inventory for i in c.items)


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


def message_of(item: Item, stamp: str) -> dict[str, Any]:
    """The inner message the worker reads: a raw body's own, or the Notifier's (stamped when
    sent: ``stamp``, later for each body as when they are published one by one)."""
    if item.body is not None:
        message: dict[str, Any] = json.loads(json.loads(item.body)["oslo.message"])
        return message
    return inner_message(item.event_type or "", item.payload, item.request_id, timestamp=stamp)


def replay(case: InventoryCase, stamps: list[str]) -> tuple[dict[Any, Entry], dict[str, Any]]:
    """The case's bodies through the worker's parser and the inventory's merge rules."""
    entries: dict[Any, Entry] = {}
    members: dict[str, Membership] = {}
    for item in case.items:
        message = message_of(item, stamps.pop(0))
        headers = {"region": REGION, "event_type": str(message.get("event_type"))}
        value = json.dumps(message).encode()
        if item.fate.must_dlq:
            with pytest.raises(MalformedNotification) as caught:
                parse_other(value, headers)
            assert caught.value.reason in item.fate.dlq, (item.label, caught.value.reason)
            continue
        inputs = parse_other(value, headers)
        assert inputs is not None, item.label  # one of the inventory's event types
        for x in inputs:
            if isinstance(x, Touch):
                key = (x.host, x.image)
                after = merge(entries.get(key), x)
                entries[key] = after or entries[key]
            elif merge_membership(members.get(x.uuid), x) is not None:
                members[x.uuid] = x
    return entries, members


@pytest.mark.parametrize("seed", [14, 15])
def test_inventory_cases_agree_with_the_parser_and_the_merge_rules(seed: int) -> None:
    """Each instance/aggregate case's expectations, stated by construction, against the
    worker's own parser (``parse_other``) and merge rules applied in publish order: its dead
    letters and reasons, its rows (newest touch's source), no trace of what must leave none,
    and its aggregates' memberships."""
    run = generate(seed, 800)
    stamps = [f"2026-12-06 10:{n // 60 % 60:02d}:{n % 60:02d}.{n:06d}" for n in range(10**4)]
    for case in run.inventory:
        entries, members = replay(case, stamps)
        rows: dict[str, dict[str, str]] = {}
        for (host, image), entry in entries.items():
            assert entry["failed"] is None, case.kind
            rows.setdefault(image, {})[host] = entry["cached"]["src"]
        assert rows == case.rows, case.kind
        assert not {h for h, _ in entries} & case.no_host, case.kind
        assert not {i for _, i in entries} & case.no_image, case.kind
        got = {u: None if m.deleted else tuple(sorted(m.hosts)) for u, m in members.items()}
        want = {u: None if h is None else tuple(sorted(h)) for u, h in case.members.items()}
        assert got == want, case.kind
        if case.kind in VALID_KINDS:
            assert case.rows or case.members, case.kind  # a valid case says something checkable
