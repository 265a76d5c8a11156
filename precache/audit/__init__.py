"""Reconciliation of a run: what RabbitMQ accepted, what reached Kafka, what the pipeline made
of it, against an independent reference computation of the rules (R1-R9).

Nothing here imports ``pipeline.operation`` or ``pipeline.engine``: the reference is a second,
deliberately simple implementation, so that a bug in the worker's rules cannot hide itself.
"""

from precache.audit.reconcile import AuditReport, OperationReport, reconcile
from precache.audit.records import AuditRecord, AuditTopics, read_run
from precache.audit.reference import Expected, Outcome, ReferenceResult, compute

__all__ = [
    "AuditRecord",
    "AuditReport",
    "AuditTopics",
    "Expected",
    "OperationReport",
    "Outcome",
    "ReferenceResult",
    "compute",
    "read_run",
    "reconcile",
]
