"""The audit report as text for people (``--json`` is :meth:`AuditReport.to_json`)."""

from precache.audit.reconcile import AuditReport


def text(report: AuditReport, problems_only: bool = False) -> str:
    lines = []
    for key, op in sorted(report.operations.items()):
        if problems_only and not (op.wrong or op.duplicated or op.unfinished):
            continue
        if op.wrong:
            verdict = "WRONG: " + "; ".join(op.problems)
        elif op.duplicated:
            verdict = "DUPLICATED"
        elif op.unfinished:
            verdict = "unfinished" + ("" if op.can_complete else " (the rules cannot close it)")
        else:
            verdict = "ok"
        ids = len(op.completed_ids)
        lines.append(f"{key}  completed={ids} redelivered={op.redelivered}  {verdict}")
    lines += [f"record: {p}" for p in report.record_problems]
    lines += [f"lost: {i}" for i in report.lost]
    accepted = "unknown" if report.accepted is None else str(report.accepted)
    lines += [
        f"accepted by RabbitMQ: {accepted}; raw records: {report.raw_records} "
        f"({report.raw_redelivered} redelivered)",
        f"bridge dead letters: {_counts(report.bridge_dead_letters)}",
        f"pipeline dead letters: {_counts(report.pipeline_dead_letters)}",
        f"ignored by a rule: {_counts(report.ignored)}",
        f"operations: {len(report.operations)}  lost: {len(report.lost)}  "
        f"duplicated: {len(report.duplicated)}  wrong: {len(report.wrong)}  "
        f"wrong records: {len(report.record_problems)}  unfinished: {len(report.unfinished)}  "
        f"(completed events redelivered: {report.redelivered_completed})",
    ]
    if report.missing_topics:
        lines.append(f"topics not found (read as empty): {', '.join(report.missing_topics)}")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
