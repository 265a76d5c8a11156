"""The fuzz suite's generator: repeatable for a seed, every mutation kind drawn, and every
expected dead-letter reason one the contract defines."""

from tests.support.fuzz import OP_MUTATIONS, generate

CONTRACT_REASONS = {
    "not_json", "not_object", "bad_payload", "bad_aggregate", "bad_timestamp", "bad_request_id",
    "bad_region", "bad_host", "bad_hosts", "duplicate_host", "bad_total", "bad_images",
    "unknown_event", "no_hosts", "host_not_in_operation", "total_mismatch",
}  # fmt: skip
BRIDGE_REASONS = {"not_utf8", "not_json", "not_envelope", "no_event_type", "too_large"}


def test_same_seed_same_run_and_every_kind_appears() -> None:
    first, again = generate(11, 800), generate(11, 800)
    assert len(first.order) >= 800
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
