"""Rows and summaries of the worker's answer, as ``precache images`` prints them."""

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson

from precache.pipeline.inventory import GateResult, parse_time

Row = dict[str, Any]


def rows(summaries: Iterable[dict[str, Any]]) -> Iterator[Row]:
    """Every host row of the summaries; with an aggregate, its members that lack the image
    too (``state`` missing)."""
    for s in summaries:
        seen = {r["host"] for r in s.get("hosts", [])}
        yield from s.get("hosts", [])
        for agg in s.get("aggregates", []):
            for host in agg.get("members", []):
                if host not in seen:
                    seen.add(host)
                    yield {
                        "region": s["region"], "host": host, "image": s["image"],
                        "state": "missing", "reason": None, "touched_at": None,
                        "cached_at": None, "expires_at": None, "gone_by": None,
                        "operation_id": None, "request_id": None, "source": None,
                    }  # fmt: skip


def expiring(row: Row, now: datetime, within: timedelta) -> bool:
    expires = row.get("expires_at")
    return row["state"] == "cached" and expires is not None and parse_time(expires) <= now + within


def json_lines(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    for item in items:
        yield orjson.dumps(item).decode()


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def table(header: list[str], body: list[list[Any]]) -> Iterator[str]:
    cells = [header, *([_cell(v) for v in line] for line in body)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    for line in cells:
        yield "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()


def row_table(items: list[Row]) -> Iterator[str]:
    header = ["REGION", "HOST", "IMAGE", "STATE", "CACHED AT", "EXPIRES AT", "GONE BY", "OPERATION"]
    body = [
        [r["region"], r["host"], r["image"], _state(r), r["cached_at"], _expiry(r),
         r["gone_by"], r["operation_id"]]
        for r in items
    ]  # fmt: skip
    return table(header, body)


def summary_table(summaries: list[dict[str, Any]]) -> Iterator[str]:
    header = ["REGION", "IMAGE", "CACHED", "FAILED", "MISSING", "EARLIEST EXPIRY", "LATEST EXPIRY"]
    body = []
    for s in summaries:
        missing = sum(a["missing"] for a in s["aggregates"]) if s["aggregates"] else None
        body.append(
            [s["region"], s["image"], s["cached"], s["failed"], missing,
             s["earliest_expiry"], s["latest_expiry"]]
        )  # fmt: skip
    return table(header, body)


def _state(r: Row) -> str:
    return f"failed ({r['reason']})" if r["state"] == "failed" and r.get("reason") else r["state"]


def _expiry(r: Row) -> str | None:
    if r["state"] != "missing" and r["cached_at"] and r["expires_at"] is None:
        return "never"
    return r["expires_at"]  # type: ignore[no-any-return]


def gate_lines(result: GateResult, image: str, aggregate: str) -> Iterator[str]:
    verdict = "ok" if result.ok else "short"
    yield (
        f"{verdict}: {result.held} of {result.total} hosts of {aggregate} hold {image} "
        f"(required {result.required:.0%})"
    )
    for s in result.short:
        yield f"  {s.host}: {s.why} ({s.detail})"
