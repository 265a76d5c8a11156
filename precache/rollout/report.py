"""What the reconciler tells its operator: one JSON object per change (``--json``), plain
lines, or (on a terminal) every target on one screen with rich; a summary table at the end."""

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

import orjson
from rich.console import Console
from rich.live import Live
from rich.table import Table

from precache.cache.nova import Accepted
from precache.rollout.nova_side import Resolved
from precache.rollout.planner import Plan, Request, TargetKey, Verdict

Operation = Mapping[str, Any]


class Reporter(Protocol):
    def plan(self, targets: Sequence[Resolved], plan: Plan) -> None: ...
    def requested(self, target: Resolved, request: Request, accepted: Accepted) -> None: ...
    def target(self, target: Resolved, verdict: Verdict) -> None: ...
    def operation(self, key: TargetKey, op: Operation) -> None: ...
    def then_done(self, key: TargetKey, status: int) -> None: ...
    def note(self, line: str) -> None: ...
    def summary(
        self, targets: Sequence[Resolved], verdicts: Mapping[TargetKey, Verdict], status: int
    ) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _request_fields(target: Resolved, request: Request) -> dict[str, Any]:
    return {
        "region": request.key.region,
        "aggregate": request.key.aggregate,
        "aggregate_uuid": request.aggregate_uuid,
        "cloud": target.cloud,
        "images": list(request.images),
        "reasons": list(request.reasons),
        "attempt": request.attempt,
    }


class JsonReporter:
    """One JSON object per line and change; ``kind`` says which."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self._out = out

    def _emit(self, kind: str, **fields: Any) -> None:
        self._out.write(orjson.dumps({"kind": kind, "at": _now(), **fields}).decode() + "\n")
        self._out.flush()

    def plan(self, targets: Sequence[Resolved], plan: Plan) -> None:
        by_key = {t.wanted.key: t for t in targets}
        for t in targets:
            v = plan.verdicts[t.wanted.key]
            self._emit("target", **_target_fields(t, v))
        for r in plan.requests:
            self._emit("would_request", **_request_fields(by_key[r.key], r))

    def requested(self, target: Resolved, request: Request, accepted: Accepted) -> None:
        self._emit(
            "request",
            **_request_fields(target, request),
            request_id=accepted.request_id,
            global_request_id=accepted.global_request_id,
        )

    def target(self, target: Resolved, verdict: Verdict) -> None:
        self._emit("target", **_target_fields(target, verdict))

    def operation(self, key: TargetKey, op: Operation) -> None:
        self._emit("operation", region=key.region, aggregate=key.aggregate, **_op_fields(op))

    def then_done(self, key: TargetKey, status: int) -> None:
        self._emit("then", region=key.region, aggregate=key.aggregate, status=status)

    def note(self, line: str) -> None:
        """A note is an object too (``kind`` ``note``): automation reading ``--json`` sees why
        a series was not continued or an event not published, in order with the rest."""
        self._emit("note", message=line)

    def summary(
        self, targets: Sequence[Resolved], verdicts: Mapping[TargetKey, Verdict], status: int
    ) -> None:
        rows = [
            _target_fields(t, verdicts[t.wanted.key]) for t in targets if t.wanted.key in verdicts
        ]
        self._emit("summary", exit_status=status, targets=rows)


def _target_fields(target: Resolved, verdict: Verdict) -> dict[str, Any]:
    return {
        "region": target.wanted.key.region,
        "aggregate": target.wanted.key.aggregate,
        "state": verdict.state.value,
        "reasons": list(verdict.reasons),
        "images": list(verdict.short_images),
    }


def _op_fields(op: Operation) -> dict[str, Any]:
    return {
        "request_id": op.get("request_id"),
        "operation_id": op.get("operation_id"),
        "state": op.get("state"),
        "outcome": op.get("outcome"),
        "percent": op.get("percent"),
        "hosts_total": op.get("hosts_total"),
        "hosts_failed": op.get("hosts_failed"),
    }


class TextReporter:
    """Plain lines per change; with ``live``, a rich table of every target redrawn instead."""

    def __init__(self, console: Console | None = None, live: bool = False) -> None:
        self._console = console or Console(highlight=False, soft_wrap=True)
        self._rows: dict[TargetKey, list[str]] = {}
        self._live = (
            Live(self._table(), console=self._console, auto_refresh=False) if live else None
        )
        if self._live is not None:
            self._live.start()

    def _line(self, text: str) -> None:
        if self._live is None:
            self._console.print(text, markup=False)

    def _set(self, key: TargetKey, column: int, value: str) -> None:
        row = self._rows.setdefault(key, [str(key), "", "", ""])
        row[column] = value
        if self._live is not None:
            self._live.update(self._table(), refresh=True)

    def _table(self) -> Table:
        table = Table("TARGET", "STATE", "WHY", "OPERATION", title="precache rollout")
        for row in self._rows.values():
            table.add_row(*row)
        return table

    def plan(self, targets: Sequence[Resolved], plan: Plan) -> None:
        for t in targets:
            v = plan.verdicts[t.wanted.key]
            why = f": {', '.join(v.reasons)}" if v.reasons else ""
            self._line(f"{t.wanted.key}: {v.state.value}{why}")
        for r in plan.requests:
            self._line(f"would request {', '.join(r.images)} on {r.key} ({', '.join(r.reasons)})")
        if not plan.requests:
            self._line("nothing to request")

    def requested(self, target: Resolved, request: Request, accepted: Accepted) -> None:
        self._line(
            f"{request.key}: requested {', '.join(request.images)} "
            f"({', '.join(request.reasons)}), attempt {request.attempt}, "
            f"request {accepted.request_id or accepted.global_request_id}"
        )
        self._set(request.key, 3, f"{accepted.request_id or '?'} accepted")

    def target(self, target: Resolved, verdict: Verdict) -> None:
        why = ", ".join(verdict.reasons)
        self._line(f"{target.wanted.key}: {verdict.state.value}" + (f" ({why})" if why else ""))
        self._set(target.wanted.key, 1, verdict.state.value)
        self._set(target.wanted.key, 2, why)

    def operation(self, key: TargetKey, op: Operation) -> None:
        f = _op_fields(op)
        text = f"{f['request_id']} {f['state']} {f['percent']:.0f}% ({f['hosts_failed']} failed)"
        if f["outcome"]:
            text += f" {f['outcome']}"
        self._line(f"{key}: operation {text}")
        self._set(key, 3, text)

    def then_done(self, key: TargetKey, status: int) -> None:
        self._line(f"{key}: --then exited {status}")

    def note(self, line: str) -> None:
        self._console.print(line, markup=False, style="yellow") if self._live else print(
            line, file=sys.stderr, flush=True
        )

    def summary(
        self, targets: Sequence[Resolved], verdicts: Mapping[TargetKey, Verdict], status: int
    ) -> None:
        if self._live is not None:
            self._live.stop()
        table = Table("REGION", "AGGREGATE", "STATE", "WHY", title=f"exit {status}")
        for t in targets:
            v = verdicts.get(t.wanted.key)
            if v is not None:
                table.add_row(
                    t.wanted.key.region, t.wanted.key.aggregate, v.state.value, ", ".join(v.reasons)
                )
        self._console.print(table)
