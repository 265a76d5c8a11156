"""``precache audit`` on the real Kafka: a run's topics written by hand, the command's verdict
and exit status read back."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.synthetic import SyntheticOperation, hostnames
from precache.contract.kafka_binding import HEADERS
from tests.support.kafka import produce
from tests.support.watch_events import completed_for

pytestmark = pytest.mark.integration


def completed(op: SyntheticOperation, **data: Any) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    event = completed_for(op, **data)
    return event["partitionkey"].encode(), orjson.dumps(event), list(HEADERS)


def audit(kafka: str, names: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECACHE_") or "STACK" in k}
    env.update({f"PRECACHE_{k.upper()}": v for k, v in names.items()})
    argv = [sys.executable, "-m", "precache.cli", "audit", f"--kafka={kafka}", *extra]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


async def test_audit_reports_a_clean_run_then_a_duplicate_and_a_lost_message(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    prefix = unique_name("audit")
    names = {
        "raw_topic": f"{prefix}.raw",
        "dlq_topic": f"{prefix}.bridge-dlq",
        "pipeline_dlq_topic": f"{prefix}.dlq",
        "completed_topic": f"{prefix}.completed",
    }
    ops = [
        SyntheticOperation(hosts=hostnames(20), images=["img"], failed={"guaranine3": ["img"]}),
        SyntheticOperation(hosts=hostnames(7), images=["img"]),
    ]
    records = [r for op in ops for r in op.records()]
    await produce(kafka_bootstrap, names["raw_topic"], records)
    await produce(kafka_bootstrap, names["completed_topic"], [completed(op) for op in ops])
    accepted = tmp_path / "accepted.txt"
    ids = [dict(h)["message_id"].decode() for _, _, h in records]
    accepted.write_text("\n".join(ids) + "\n")

    clean = await asyncio.to_thread(audit, kafka_bootstrap, names, f"--accepted={accepted}")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "lost: 0  duplicated: 0  wrong: 0" in clean.stdout

    accepted.write_text("\n".join([*ids, "never-sent-to-kafka"]) + "\n")
    await produce(kafka_bootstrap, names["completed_topic"], [completed(ops[1], hosts_failed=2)])
    bad = await asyncio.to_thread(audit, kafka_bootstrap, names, f"--accepted={accepted}", "--json")
    assert bad.returncode == 1, bad.stderr
    report = json.loads(bad.stdout)
    assert report["lost"] == ["never-sent-to-kafka"]
    totals = report["totals"]
    assert (totals["operations"], totals["duplicated"], totals["wrong"]) == (2, 1, 1)


def test_audit_with_kafka_unreachable_or_a_missing_file_exits_3(tmp_path: Path) -> None:
    down = audit("127.0.0.1:1", {}, "--timeout-s=2")
    assert (down.returncode, down.stderr.count("\n")) == (3, 1), down.stderr
    assert down.stderr.startswith("error: Kafka at 127.0.0.1:1 is unreachable")
    missing = audit("127.0.0.1:1", {}, f"--accepted={tmp_path / 'none.txt'}")
    assert missing.returncode == 3, missing.stderr
    assert "none.txt" in missing.stderr
