"""The reference computation of rules R2-R9 on hand-built sequences."""

import orjson
import pytest

from bench.synthetic import SyntheticOperation, hostnames
from precache.audit.reference import compute
from tests.support.audit_records import Log, op_id, with_data


def make(n: int = 5, failed: dict[str, list[str]] | None = None, **kw) -> SyntheticOperation:
    return SyntheticOperation(hosts=hostnames(n), images=["i1", "i2"], failed=failed or {}, **kw)


def test_valid_operation_completes_at_once_with_its_failures() -> None:
    op = make(5, {"guaranine2": ["i1"], "guaranine4": ["i1", "i2"]})
    log = Log()
    for r in op.records():
        log.add(r)
    expected = compute(log.records).operations[op_id(op)]
    [outcome] = expected.candidates
    assert expected.done
    assert (outcome.hosts_total, outcome.hosts_reported, outcome.hosts_failed) == (5, 5, 2)
    assert outcome.failed_hosts == {"guaranine2", "guaranine4"}
    assert dict(outcome.image_failures) == {"i1": 2, "i2": 1}
    assert outcome.outcome == "partial"


def test_duplicates_are_ignored_and_late_input_after_completion_is_r7() -> None:
    op = make(3)
    log = Log()
    start, *progress, end = op.records()
    for r in [start, progress[0], progress[0], *progress[1:], end, progress[1]]:
        log.add(r)
    result = compute(log.records)
    assert result.ignored == {"duplicate": 1, "after_completed": 2}
    assert result.operations[op_id(op)].candidates[0].outcome == "succeeded"
    assert not result.dead_letters


def test_host_outside_the_list_and_total_mismatch_are_dead_lettered_never_counted() -> None:
    op = make(3)
    log = Log()
    start, *progress, _end = op.records()
    log.add(start)
    stranger = log.add(with_data(progress[0], host="intruder"))
    wrong_total = log.add(with_data(progress[1], total=4))
    huge_total = log.add(with_data(progress[1], total=10**12))
    for r in progress:
        log.add(r)
    result = compute(log.records)
    assert result.dead_letters == {
        log.ref(stranger): "host_not_in_operation",
        log.ref(wrong_total): "total_mismatch",
        log.ref(huge_total): "bad_total",  # above MAX_HOSTS: input validation (R1) refuses it
    }
    [outcome] = result.operations[op_id(op)].candidates
    assert (outcome.hosts_total, outcome.hosts_reported, outcome.hosts_failed) == (3, 3, 0)


def test_progress_before_any_list_is_held_then_resolved_by_the_end_in_order() -> None:
    op = make(3)
    log = Log()
    _, *progress, end = op.records()  # the start is lost
    stranger = log.add(with_data(progress[0], host="intruder"))
    for r in progress:
        log.add(r)
    mid = compute(log.records).operations[op_id(op)]
    assert (mid.hosts, len(mid.held), mid.candidates) == (None, 4, [])
    log.add(end)
    result = compute(log.records)
    assert result.dead_letters == {log.ref(stranger): "host_not_in_operation"}
    [outcome] = result.operations[op_id(op)].candidates
    assert (outcome.hosts_total, outcome.hosts_reported) == (3, 3)


def test_end_with_a_silent_host_allows_every_state_after_the_end() -> None:
    op = make(4, silent={"guaranine3"})
    log = Log()
    for r in op.records():
        log.add(r)
    late = op.progress("guaranine3", 4)
    log.add(late)
    expected = compute(log.records).operations[op_id(op)]
    grace, at_once = expected.candidates
    assert grace.missing_hosts == {"guaranine3"}
    assert (grace.hosts_failed, grace.outcome) == (1, "partial")
    assert (at_once.hosts_reported, at_once.hosts_failed, at_once.outcome) == (4, 0, "succeeded")


def test_without_end_an_incomplete_operation_cannot_complete() -> None:
    op = make(4, silent={"guaranine3"})
    log = Log()
    for r in op.records()[:-1]:
        log.add(r)
    assert not compute(log.records).operations[op_id(op)].can_complete


@pytest.mark.parametrize(
    ("hosts", "reason"), [([], "no_hosts"), (["a", "b", "a"], "duplicate_host")]
)
def test_bad_lists_are_dead_lettered_and_the_end_list_is_used(hosts, reason) -> None:
    op = make(2)
    log = Log()
    start, *progress, end = op.records()
    key, value, headers = start
    message = orjson.loads(value)
    message["payload"]["nova_object.data"]["hosts"] = hosts
    bad = log.add((key, orjson.dumps(message), headers))
    for r in [*progress, end]:
        log.add(r)
    result = compute(log.records)
    assert result.dead_letters == {log.ref(bad): reason}
    assert result.operations[op_id(op)].candidates[0].hosts_total == 2


def test_later_list_that_differs_is_ignored() -> None:
    op = make(2)
    log = Log()
    start, *progress, end = op.records()
    log.add(start)
    log.add(with_data(end, hosts=["guaranine1", "guaranine2", "guaranine3"]))
    for r in progress:
        log.add(r)
    result = compute(log.records)
    assert result.ignored["list_differs"] == 1
    assert result.operations[op_id(op)].candidates[-1].hosts_total == 2
    # the host only the end names is a dead letter too (R3, issue 19)
    assert list(result.dead_letters.values()) == ["hosts_not_in_operation"]


def test_an_end_after_completion_naming_a_stranger_is_a_dead_letter() -> None:
    op = make(2)
    log = Log()
    start, *progress, end = op.records()
    for r in [start, *progress]:
        log.add(r)
    log.add(with_data(end, hosts=["guaranine1", "stranger"]))
    result = compute(log.records)
    assert list(result.dead_letters.values()) == ["hosts_not_in_operation"]
    assert result.operations[op_id(op)].candidates[-1].hosts_total == 2


def test_one_request_id_on_two_aggregates_is_two_operations() -> None:
    a = make(2, request_id="req-shared")
    b = make(3, request_id="req-shared", failed={"guaranine1": ["i1"]})
    log = Log()
    for ra, rb in zip(a.records(), b.records(), strict=False):
        log.add(ra)
        log.add(rb)
    for r in b.records()[len(a.records()) :]:
        log.add(r)
    ops = compute(log.records).operations
    assert ops[op_id(a)].candidates[0].hosts_failed == 0
    assert ops[op_id(b)].candidates[0].hosts_failed == 1


def test_without_request_id_progress_follows_the_start_of_its_aggregate() -> None:
    op = make(2, request_id=None)
    log = Log()
    for r in op.records():
        log.add(r)
    ops = compute(log.records).operations
    [(key, expected)] = ops.items()
    assert key.startswith(f"region-a/{op.aggregate_uuid}/2026-11-23")
    assert expected.done


def test_malformed_input_is_dead_lettered_by_the_parser_and_other_events_ignored() -> None:
    log = Log()
    bad = log.add((b"k", b"{not json", [("event_type", b"aggregate.cache_images.progress")]))
    log.add((b"k", b'{"event_type": "compute.instance.create.end"}', []))
    result = compute(log.records)
    assert set(result.dead_letters) == {log.ref(bad)}
    assert result.ignored == {"not_used": 1}


def test_a_stranger_after_the_end_of_an_unfinished_operation_may_be_ignored() -> None:
    """After an ``.end`` with hosts missing the grace period may complete the operation
    before the next record: the worker then ignores it (R7) rather than dead-letter it. A
    stranger before the ``.end`` must be dead-lettered."""
    op = make(3, silent={"guaranine3"})
    log = Log()
    start, *progress, end = op.records()
    log.add(start)
    before = log.add(with_data(progress[0], host="intruder"))
    for r in [*progress, end]:
        log.add(r)
    after = log.add(with_data(progress[0], host="intruder"))
    result = compute(log.records)
    assert result.dead_letters == {
        log.ref(before): "host_not_in_operation",
        log.ref(after): "host_not_in_operation",
    }
    assert result.optional == {log.ref(after)}


def test_a_malformed_inventory_notification_is_a_dead_letter_a_valid_one_is_not() -> None:
    """The worker dead-letters a bad instance or aggregate notification (the inventory's inputs,
    ``pipeline.inventory_input``): the reference must too, or ``precache audit`` calls those
    dead letters wrong (found by the fuzz)."""

    def message(event_type: str, data: dict[str, object]) -> dict[str, object]:
        return {
            "event_type": event_type,
            "timestamp": "2026-12-01 10:00:00.000000",
            "message_id": "m",
            "payload": {"nova_object.name": "X", "nova_object.data": data},
        }

    log = Log()
    image = "155d900f-4e14-4e4c-a73d-069cbf4541e6"
    bad_host = log.add_message(message("instance.create.end", {"host": 7, "image_uuid": image}))
    log.add_message(message("instance.create.end", {"host": "c1", "image_uuid": image}))
    log.add_message(message("instance.rebuild.end", {"host": "c1", "image_uuid": None}))
    agg = {"uuid": "788608ec-ebdc-45c5-bc7f-e5f24ab92c80", "name": "a", "id": 1}
    bad_hosts = log.add_message(message("aggregate.add_host.end", {**agg, "hosts": [1]}))
    log.add_message(message("aggregate.add_host.end", {**agg, "hosts": ["c1"]}))
    result = compute(log.records)
    assert result.dead_letters == {log.ref(bad_host): "bad_host", log.ref(bad_hosts): "bad_hosts"}
