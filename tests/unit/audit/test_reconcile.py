"""Lost, duplicated, wrong and unfinished from hand-built runs."""

from typing import Any

import orjson

from bench.synthetic import SyntheticOperation, hostnames
from precache.audit.reconcile import reconcile
from precache.audit.records import AuditRecord, RunRecords
from tests.support.audit_records import Log, op_id
from tests.support.watch_events import completed_for


def completed(op: SyntheticOperation, event_id: str | None = None, **data: Any) -> AuditRecord:
    value = orjson.dumps(completed_for(op, event_id, **data))
    return AuditRecord("completed", 0, 0, None, value, {})


def run_of(*ops: SyntheticOperation, events: list[AuditRecord]) -> RunRecords:
    log = Log()
    for op in ops:
        for r in op.records():
            log.add(r)
    return RunRecords(log.records, [], [], events, [])


def op(n: int = 3, **kw: Any) -> SyntheticOperation:
    return SyntheticOperation(hosts=hostnames(n), images=["i1"], **kw)


def test_exact_run_is_ok_and_redelivered_copies_are_counted_apart() -> None:
    a, b = op(3, failed={"guaranine2": ["i1"]}), op(4)
    first = completed(a)
    report = reconcile(run_of(a, b, events=[first, first, completed(b)]))
    assert report.ok, report.to_json()
    assert (report.redelivered_completed, report.unfinished) == (1, [])


def test_two_distinct_completed_ids_are_duplicated_and_bad_counts_wrong() -> None:
    a, b = op(3), op(3)
    report = reconcile(
        run_of(a, b, events=[completed(a), completed(a), completed(b, hosts_failed=1)])
    )
    assert report.duplicated == [op_id(a)]
    assert report.wrong == [op_id(b)]
    assert "hosts_failed 1, expected 0" in report.operations[op_id(b)].problems[0]
    assert not report.ok


def test_old_style_operation_id_is_wrong_but_matched_to_its_operation() -> None:
    a = op(2)
    report = reconcile(run_of(a, events=[completed(a, operation_id=f"region-a/{a.request_id}")]))
    assert report.wrong == [op_id(a)]


def test_lost_message_ids_and_unfinished_operations() -> None:
    a = op(2)
    run = run_of(a, events=[])
    sent = [r.headers["message_id"] for r in run.raw]
    report = reconcile(run, [*sent, "never-arrived"])
    assert report.lost == ["never-arrived"]
    assert report.unfinished == [op_id(a)]


def test_a_record_dead_lettered_that_the_rules_apply_is_a_problem() -> None:
    a = op(2)
    run = run_of(a, events=[completed(a)])
    headers = {"reason": "apply_error", "source_topic": "raw", "source_partition": "0"}
    run.pipeline_dlq.append(AuditRecord("dlq", 0, 0, None, b"", {**headers, "source_offset": "1"}))
    report = reconcile(run)
    assert report.record_problems == ["raw 0/1: dead-lettered (apply_error), the rules apply it"]
    assert report.pipeline_dead_letters == {"apply_error": 1}


def test_a_dead_letter_the_grace_period_may_have_made_r7_is_not_required() -> None:
    a = op(3, silent={"guaranine3"})
    log = Log()
    for r in a.records():
        log.add(r)
    key, value, headers = a.progress("guaranine1", 3)
    message = orjson.loads(value)
    message["payload"]["nova_object.data"]["host"] = "intruder"
    stranger = log.add((key, orjson.dumps(message), headers))
    silent = ["guaranine3"]
    event = completed(
        a,
        hosts_reported=2,
        hosts_failed=1,
        failed_hosts=silent,
        missing_hosts=silent,
        outcome="partial",
    )
    report = reconcile(RunRecords(log.records, [], [], [event], []))
    assert report.ok, report.to_json()  # the stranger ignored: R7 after the grace period
    dead = {"reason": "host_not_in_operation", "source_topic": "raw", "source_partition": "0"}
    offset = {"source_offset": str(stranger.offset)}
    dlq = [AuditRecord("dlq", 0, 0, None, stranger.value, {**dead, **offset})]
    assert reconcile(RunRecords(log.records, [], dlq, [event], [])).record_problems == []


def test_a_completed_event_that_breaks_the_contract_is_wrong() -> None:
    a = SyntheticOperation(hosts=hostnames(2), images=["i1"], request_id="req-a")
    good = completed(a)
    body = orjson.loads(good.value or b"")
    body["data"]["percent"] = 250
    bad = AuditRecord("completed", 0, 1, None, orjson.dumps(body), {})
    assert reconcile(run_of(a, events=[good])).ok
    report = reconcile(run_of(a, events=[bad]))
    assert not report.ok
    assert "breaks the event contract" in orjson.dumps(report.to_json()).decode()
