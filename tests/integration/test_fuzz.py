"""Fuzz: mutated notifications derived from Nova's real ones, with valid operations between
them, through the real chain (oslo Notifier / kombu -> RabbitMQ -> ``precache bridge`` -> Kafka
-> ``precache worker``), each with its expected handling known by construction
(tests/support/fuzz.py): cache_images operations, and beside each one an instance or aggregate
case (tests/support/fuzz_inventory.py) whose outcome is read back from the worker's inventory
(``GET /images/{image}``, ``/hosts/{host}``, ``/aggregates/{uuid}``) and from
``precache.image.cache``.

``PRECACHE_FUZZ_COUNT`` mutated notifications, valid operations drawn between them (default
1,000: the default suite's short run; ``scripts/test-fuzz`` runs 10,000),
``PRECACHE_FUZZ_SEED`` makes a run repeatable.
"""

import asyncio
import json
import os
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest

from precache import contract
from precache.audit.reconcile import message_id, operation_key, reason
from precache.audit.records import AuditRecord
from precache.contract import ImageCacheEvent
from precache.pipeline.settings import WorkerSettings
from tests.support.chain import (
    BridgeProcesses,
    audit,
    bridge_for,
    derived_topics,
    read,
    tracebacks,
)
from tests.support.fuzz import HUGE_ID, REGION, VALID, FuzzRun, generate
from tests.support.fuzz_items import Item
from tests.support.inventory import image_rows
from tests.support.publishers import Accepted, RawPublisher, context, recording_notifier
from tests.support.schemas import derived_event, schema_validator
from tests.support.worker import WorkerProcess

SEED = int(os.environ.get("PRECACHE_FUZZ_SEED", "20261129"))
COUNT = int(os.environ.get("PRECACHE_FUZZ_COUNT", "1000"))

pytestmark = [pytest.mark.integration, pytest.mark.fuzz, pytest.mark.timeout(600 + COUNT // 10)]


def publish_all(run: FuzzRun, amqp_url: str, exchange: str, accepted: Accepted) -> None:
    """In order, one at a time: each publish returns once RabbitMQ confirmed it, so the queue
    holds the bodies in this order whichever connection sent them."""
    contexts: dict[str, Any] = {}
    with (
        recording_notifier(amqp_url, exchange, accepted) as notifier,
        RawPublisher(amqp_url, exchange) as raw,
    ):
        for item in run.order:
            if item.body is not None:
                raw.publish(item.body)
                if item.message_id:
                    accepted.add(item.message_id)
                continue
            request_id = item.request_id or "req-none"
            ctxt = contexts.setdefault(request_id, context(request_id))
            before = len(accepted)
            notifier.info(ctxt, item.event_type, item.payload)
            if len(accepted) > before:
                item.message_id = accepted.ids[-1]


def completed_by_operation(records: list[AuditRecord]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        event = derived_event(r)
        out[operation_key(event["data"])].append(event)
    return out


def dead_letters_by_id(records: list[AuditRecord]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for r in records:
        out[r.headers.get("message_id", "")].append(reason(r))
    return out


def bridge_dead_letters(records: list[AuditRecord]) -> dict[bytes | str, AuditRecord]:
    """The bridge's dead letters by value, and by oslo message_id when they have one: a body
    holding secrets is scrubbed (docs/bridge-reliability.md), so its value is not the body
    that was published."""
    out: dict[bytes | str, AuditRecord] = {}
    for r in records:
        out[r.value or b""] = r
        if mid := message_id(r):
            out[mid] = r
    return out


def bounced_as(item: Item, bounced: dict[bytes | str, AuditRecord]) -> AuditRecord | None:
    """The dead letter of a bridge-level body: a scrubbed one is found by its message_id."""
    key: bytes | str | None = item.message_id if item.secrets else item.body
    return bounced.get(key) if key is not None else None


async def wait_settled(
    run: FuzzRun, worker: WorkerSettings, bridge_dlq: str, alive: Callable[[], bool]
) -> None:
    """Until every operation that must complete did, every must-dead-letter record is in the
    pipeline DLQ and every bad body in the bridge DLQ (or a process died, or the deadline)."""
    deadline = time.monotonic() + 60 + len(run.order) / 50
    must_dlq = {i.message_id for i in run.items() if i.fate.must_dlq}
    bounce = [i for i in run.junk if i.fate.bridge]
    while time.monotonic() < deadline and alive():
        got = await read(worker, [worker.completed_topic, worker.pipeline_dlq_topic, bridge_dlq])
        done = set(completed_by_operation(got.get(worker.completed_topic, [])))
        dead = set(dead_letters_by_id(got.get(worker.pipeline_dlq_topic, [])))
        bounced = bridge_dead_letters(got.get(bridge_dlq, []))
        if (
            all(op.operation_id in done for op in run.ops if op.completes)
            and must_dlq <= dead
            and all(bounced_as(item, bounced) for item in bounce)
        ):
            break
        await asyncio.sleep(3)
    await asyncio.sleep(worker.grace_period_s + 2)  # late events, if any, arrive now


def judge(
    run: FuzzRun, topics: dict[str, list[AuditRecord]], worker: WorkerSettings, bridge_dlq: str
) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = defaultdict(list)
    derived = [r for t in derived_topics(worker) for r in topics.get(t, [])]
    for r in derived:
        try:
            derived_event(r)
        except (jsonschema.ValidationError, contract.InvalidEvent, KeyError, AssertionError) as exc:
            problems["schema"].append(f"{r.topic} offset {r.offset}: {exc!s:.200}")
    completed = completed_by_operation(topics.get(worker.completed_topic, []))
    for op in run.ops:
        events = completed.get(op.operation_id, [])
        ids = {e["id"] for e in events}
        tag = f"{op.mutation} {op.operation_id}"
        if not op.completes:
            if events:
                problems["completed_unexpected"].append(tag)
            continue
        if not ids:
            problems["completed_missing"].append(tag)
            continue
        if len(ids) > 1:
            problems["completed_twice"].append(f"{tag}: {len(ids)} ids")
        data = events[0]["data"]
        if data["operation_id"] != op.operation_id:
            problems["operation_id"].append(f"{tag}: {data['operation_id']}")
        want = op.expected()
        got = {k: data.get(k) for k in want}
        got["failed_hosts"] = set(got["failed_hosts"] or ())
        got["missing_hosts"] = set(got["missing_hosts"] or ())
        diff = {k: (got[k], v) for k, v in want.items() if got[k] != v}
        if diff:
            problems["counts"].append(f"{tag}: {str(diff)[:300]}")
    judge_dead_letters(run, topics, worker, bridge_dlq, problems)
    return problems


def judge_dead_letters(
    run: FuzzRun,
    topics: dict[str, list[AuditRecord]],
    worker: WorkerSettings,
    bridge_dlq: str,
    problems: dict[str, list[str]],
) -> None:
    dead = dead_letters_by_id(topics.get(worker.pipeline_dlq_topic, []))
    raw = {r.headers.get("message_id"): r for r in topics.get(worker.raw_topic, [])}
    items = run.items()
    known = {i.message_id for i in items}
    for item in items:
        reasons = dead.get(item.message_id or "", [])
        tag = f"{item.label} {item.message_id}"
        if item.fate.bridge:
            continue
        if item.fate.must_dlq and not reasons:
            problems["dlq_missing"].append(tag)
        elif reasons and not item.fate.dlq:
            problems["dlq_unexpected"].append(f"{tag}: {reasons}")
        elif any(r not in item.fate.dlq for r in reasons):
            problems["dlq_reason"].append(f"{tag}: {reasons} not in {sorted(item.fate.dlq)}")
        value = raw[item.message_id].value or b"" if item.message_id in raw else None
        if item.huge_number and value is not None and str(HUGE_ID).encode() not in value:
            problems["numbers"].append(f"{tag}: aggregate id {HUGE_ID} rewritten by the bridge")
    for unknown in set(dead) - known:
        problems["dlq_unexpected"].append(f"unknown record {unknown}: {dead[unknown]}")
    raw_at = {(r.partition, r.offset): r for r in topics.get(worker.raw_topic, [])}
    for r in topics.get(worker.pipeline_dlq_topic, []):
        problems["dlq_record"] += dead_letter_problems(r, raw_at, worker.raw_topic)
    bounced = bridge_dead_letters(topics.get(bridge_dlq, []))
    for item in run.junk:
        if not item.fate.bridge:
            continue
        record = bounced_as(item, bounced)
        why = reason(record) if record else None
        if why not in item.fate.bridge:
            problems["bridge_dlq"].append(f"{item.label}: {why}")
        elif item.secrets and record and record.headers.get("scrubbed") not in ("fields", "cut"):
            problems["secrets"].append(f"{item.label}: header scrubbed {record.headers}")
    every = [r.value or b"" for t in topics.values() for r in t]
    for item in run.junk:
        for secret in item.secrets:
            if any(secret.encode() in value for value in every):
                problems["secrets"].append(f"{item.label}: {secret} is in Kafka")


def dead_letter_problems(
    r: AuditRecord, raw_at: dict[tuple[int, int], AuditRecord], raw_topic: str
) -> list[str]:
    """The contract's pipeline dead letter: the original value and headers, plus ``reason``,
    ``error`` (at most 1000 characters), ``source_topic``/``_partition``/``_offset`` naming the
    raw record it is."""
    h = r.headers
    tag = f"dead letter {r.partition}/{r.offset} ({h.get('reason')})"
    if not h.get("error") or len(h["error"]) > 1000:
        return [f"{tag}: error header {h.get('error', '')[:80]!r}"]
    try:
        source = raw_at.get((int(h["source_partition"]), int(h["source_offset"])))
    except (KeyError, ValueError):
        return [f"{tag}: no source_partition/source_offset: {sorted(h)}"]
    if h.get("source_topic") != raw_topic or source is None:
        return [f"{tag}: source {h.get('source_topic')} is not a raw record"]
    if r.value != source.value:
        return [f"{tag}: value is not the raw record's"]
    lost = {k: v for k, v in source.headers.items() if h.get(k) != v}
    return [f"{tag}: original headers changed: {lost}"] if lost else []


def inventory_problems(run: FuzzRun, worker: WorkerProcess) -> dict[str, list[str]]:
    """What the worker's inventory shows against each instance/aggregate case: every valid
    touch a row (cached, on its host, of its image, the newest touch's source, no operation),
    nothing of a dead-lettered or "nothing recorded" one, every aggregate's newest valid
    membership (a deleted one unknown) and its hosts' aggregates."""
    problems: dict[str, list[str]] = defaultdict(list)
    for case in run.inventory:
        for image, want in case.rows.items():
            rows = image_rows(worker, image, region=REGION)
            got = {h: r.get("source") for h, r in (rows or {}).items()}
            if got != want:
                problems["inventory_rows"].append(f"{case.kind} {image}: {got} != {want}")
                continue
            for host, row in (rows or {}).items():
                fields = (row["region"], row["host"], row["image"], row["state"])
                if fields != (REGION, host, image, "cached") or row["operation_id"] is not None:
                    problems["inventory_rows"].append(f"{case.kind}: {str(row)[:300]}")
        for image in case.no_image:
            if image_rows(worker, image) != {}:
                problems["inventory_trace"].append(f"{case.kind}: image {image} has rows")
        for host in case.no_host:
            status, _ = worker.get(f"/hosts/{urllib.parse.quote(host)}")
            if status != 404:
                problems["inventory_trace"].append(f"{case.kind}: host {host[:40]!r}: {status}")
        for uuid, hosts in case.members.items():
            status, body = worker.get(f"/aggregates/{uuid}")
            found = [sorted(a["hosts"]) for a in body["aggregates"]] if status == 200 else None
            want_members = None if hosts is None else [sorted(hosts)]
            if found != want_members:
                problems["inventory_members"].append(f"{case.kind} {uuid}: {found}")
        for host in case.aggregate_hosts:
            status, body = worker.get(f"/hosts/{urllib.parse.quote(host)}")
            got_aggs = {a["uuid"] for a in body["aggregates"]} if status == 200 else set()
            if got_aggs != case.aggregates_of(host) or (status == 404) != (not got_aggs):
                problems["inventory_host_aggregates"].append(f"{case.kind} {host}: {got_aggs}")
    return problems


async def wait_inventory(run: FuzzRun, worker: WorkerProcess) -> dict[str, list[str]]:
    """The inventory's problems once there are none, or at the deadline (the agent applies
    the internal topic after the operations agent forwarded it)."""
    deadline = time.monotonic() + 60
    while True:
        problems = await asyncio.to_thread(inventory_problems, run, worker)
        if not problems or time.monotonic() > deadline:
            return problems
        await asyncio.sleep(2)


def image_cache_problems(run: FuzzRun, records: list[AuditRecord]) -> dict[str, list[str]]:
    """``precache.image.cache``: a valid event (the contract) whose last one per key says the
    image is cached with the newest touch's source for every valid touch, none about a host or
    image of a case that must leave no trace."""
    problems: dict[str, list[str]] = defaultdict(list)
    last: dict[str, dict[str, Any]] = {}
    for r in records:
        try:
            event = json.loads(r.value or b"")
            schema_validator("precache.image.cache").validate(event)
            ImageCacheEvent.model_validate(event)
            assert r.key == event["subject"].encode(), r.key
        except (jsonschema.ValidationError, pydantic.ValidationError, AssertionError) as exc:
            problems["schema"].append(f"{r.topic} offset {r.offset}: {exc!s:.200}")
            continue
        last[event["subject"]] = event["data"]
    hosts = {d["host"] for d in last.values()}
    images = {d["image"] for d in last.values()}
    for case in run.inventory:
        for image, want in case.rows.items():
            for host, source in want.items():
                d = last.get(f"{REGION}/{host}/{image}")
                got = d and (d["state"], d["source"], d["operation_id"])
                if got != ("cached", source, None):
                    problems["image_cache_event"].append(f"{case.kind} {host} {image}: {got}")
        if (case.no_host & hosts) or (case.no_image & images):
            problems["image_cache_trace"].append(f"{case.kind}: an event about it")
    return problems


async def test_fuzzed_notifications_through_the_real_chain(
    amqp_url: str,
    unique_name: Callable[[str], str],
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    tmp_path: Path,
) -> None:
    run = generate(SEED, COUNT)
    worker = await worker_settings(grace_period_s=2.0, commit_interval_s=1.0)
    worker_process = start_worker(worker)
    worker_process.wait_ready()
    bridge = bridge_for(worker, amqp_url, unique_name("fuzz"))
    bridges = BridgeProcesses(bridge, tmp_path / "bridge.log")
    accepted = Accepted()

    def alive() -> bool:
        assert worker_process.proc is not None
        return bridges.current.poll() is None and worker_process.proc.poll() is None

    try:
        await bridges.start()
        await asyncio.to_thread(publish_all, run, amqp_url, bridge.exchange, accepted)
        await wait_settled(run, worker, bridge.dlq_topic, alive)
        inventory = await wait_inventory(run, worker_process)
        names = [worker.raw_topic, bridge.dlq_topic, worker.pipeline_dlq_topic]
        names.append(worker.image_cache_topic)
        topics = await read(worker, names + derived_topics(worker))
        report = await audit(worker, bridge, accepted.ids)
        still_alive = alive()
    finally:
        bridges.stop()

    problems = judge(run, topics, worker, bridge.dlq_topic)
    for found in (inventory, image_cache_problems(run, topics.get(worker.image_cache_topic, []))):
        for kind, listed in found.items():
            problems[kind] += listed
    if not still_alive:
        problems["crash"].append("the bridge or the worker exited")
    problems["crash"] += tracebacks(worker_process.log_path, bridges.log)
    if not report.ok:
        totals = report.to_json()["totals"]
        problems["audit"].append(f"{totals}; wrong: {report.wrong[:3]}")
        problems["audit"] += report.record_problems[:5]
    print_counts(run, topics, worker, bridge.dlq_topic, report.to_json()["totals"])
    problems = {k: v for k, v in problems.items() if v}
    summary = "\n".join(f"{k}: {len(v)}, e.g. {v[:3]}" for k, v in sorted(problems.items()))
    assert not problems, f"seed {SEED}, {len(run.order)} notifications\n{summary}"


def print_counts(
    run: FuzzRun,
    topics: dict[str, list[AuditRecord]],
    worker: WorkerSettings,
    bridge_dlq: str,
    totals: dict[str, Any],
) -> None:
    mutated, total = run.mutated(), len(run.order)
    valid = sum(op.mutation in VALID for op in run.ops)
    print(f"\nfuzz seed {SEED}: {total} notifications, {mutated} of them mutated (the others")
    print(f"in valid operations); {len(run.ops)} operations, {valid} of them valid")
    cases = sum(c.valid for c in run.inventory)
    print(f"inventory: {len(run.inventory)} instance/aggregate cases, {cases} of them valid,")
    print(f"{run.inventory_mutated()} mutated bodies (counted apart from the above)")
    print("by mutation:", dict(run.counts()))
    pipeline_dlq = topics.get(worker.pipeline_dlq_topic, [])
    print("pipeline DLQ by reason:", dict(Counter(reason(r) for r in pipeline_dlq)))
    print("bridge DLQ by reason:", dict(Counter(reason(r) for r in topics.get(bridge_dlq, []))))
    print("audit:", totals)
