"""Mutated notifications with their expected handling known by construction.

Each operation is drawn by hypothesis as an :class:`OpPlan` (a mutation kind and its sizes);
:func:`build` turns the plans into notifications derived from Nova's real ones (the samples'
payload shapes, the 12-host conductor stream's envelope and context keys), each with its
:class:`Fate`. Ids come from the seed and the operation's index, never from hypothesis, so two
operations never share an aggregate or request id by accident.
"""

import random
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.support.fuzz_inventory import (
    KINDS,
    VALID_KINDS,
    InventoryCase,
    build_case,
    inventory_plans,
)
from tests.support.fuzz_items import APPLY, Fate, Ids, Item, bridge_dead, dead
from tests.support.publishers import inner_message, oslo_envelope

START, PROGRESS, END = (f"aggregate.cache_images.{k}" for k in ("start", "progress", "end"))
REGION = "region-a"
HUGE_ID = 10**30
NUMBER_ID = object()  # stands for a message_id that is a JSON number (unique per body)
HOST_PREFIXES = ["guaranine", "compute-", "cmp.rack7.example.org-", "hôte-"]


@dataclass
class FuzzOp:
    mutation: str
    aggregate_uuid: str
    request_id: str
    hosts: list[str]
    images: list[str]
    failed: dict[str, list[str]]
    silent: set[str]
    completes: bool
    items: list[Item] = field(default_factory=list)

    @property
    def operation_id(self) -> str:
        """R2; without a request id, the start's timestamp (canonical UTC) names it."""
        if self.mutation == "no_request_id":
            return f"{REGION}/{self.aggregate_uuid}/2026-11-23T19:00:01.674505Z"
        return f"{REGION}/{self.aggregate_uuid}/{self.request_id}"

    def expected(self) -> dict[str, Any]:
        failing = set(self.failed) | self.silent
        failed = len(failing)
        total = len(self.hosts)
        outcome = "succeeded" if failed == 0 else "failed" if failed >= total else "partial"
        images: dict[str, int] = {}
        for host_images in self.failed.values():
            for image in set(host_images):
                images[image] = images.get(image, 0) + 1
        return {
            "hosts_total": total,
            "hosts_reported": total - len(self.silent),
            "hosts_failed": failed,
            "failed_hosts": failing,
            "missing_hosts": set(self.silent),
            "image_failures": images,
            "outcome": outcome,
        }


# field mutations of one extra copy of a progress (the genuine one is sent too, after it):
# name -> (how, fate); "top" fields need a raw publish
FIELD_MUTATIONS: dict[str, tuple[dict[str, Any], Fate]] = {
    "timestamp_invalid_date": (
        {"top": {"timestamp": "2026-02-30 10:00:00"}},
        dead("bad_timestamp"),
    ),
    "timestamp_garbage": (
        {"top": {"timestamp": "2026-11-23 19:04:24.674505garbage"}},
        dead("bad_timestamp"),
    ),
    "timestamp_missing": ({"top": {"timestamp": None}}, dead("bad_timestamp")),
    "timestamp_number": ({"top": {"timestamp": 1764411864}}, dead("bad_timestamp")),
    "request_id_number": ({"top": {"_context_request_id": 12345}}, dead("bad_request_id")),
    "host_5000_digits": ({"data": {"host": "7" * 5000}}, dead("bad_host")),  # > 255 chars
    "host_control_chars": ({"data": {"host": "evil\x1b[31m\x07"}}, dead("bad_host")),
    "host_empty": ({"data": {"host": ""}}, dead("bad_host")),
    "host_number": ({"data": {"host": 42}}, dead("bad_host")),
    "total_zero": ({"data": {"total": 0}}, dead("bad_total")),
    "total_negative": ({"data": {"total": -3}}, dead("bad_total")),
    "total_string": ({"data": {"total": "3"}}, dead("bad_total")),
    "total_bool": ({"data": {"total": True}}, dead("bad_total")),
    "total_huge": ({"data": {"total": 10**12}}, dead("bad_total")),  # > MAX_HOSTS
    "images_failed_string": ({"data": {"images_failed": "img"}}, dead("bad_images")),
    "images_cached_numbers": ({"data": {"images_cached": [1, 2]}}, dead("bad_images")),
    "payload_empty": ({"payload": {}}, dead("bad_payload")),
    "payload_string": ({"payload": "nova"}, dead("bad_payload")),
    "aggregate_uuid_missing": ({"data": {"uuid": None}}, dead("bad_aggregate")),
    "aggregate_uuid_number": ({"data": {"uuid": 7}}, dead("bad_aggregate")),
    "aggregate_uuid_slash": ({"data": {"uuid": "agg/1"}}, dead("bad_aggregate")),
    "aggregate_id_huge": ({"data": {"id": HUGE_ID}}, dead("bad_aggregate")),  # > 2**63 - 1
    # carried, never used by the rules: an unusable value becomes None, the record applies
    # (it counts the host; the genuine copy after it is then a duplicate)
    "index_string": ({"data": {"index": "7"}}, APPLY),
    "index_huge": ({"data": {"index": 10**12}}, APPLY),
    "message_id_number": ({"top": {"message_id": NUMBER_ID}}, APPLY),
    "unknown_event": ({"event_type": "aggregate.cache_images.middle"}, dead("unknown_event")),
}
START_MUTATIONS: dict[str, tuple[Any, Fate]] = {
    "start_hosts_string": ("a,b", dead("bad_hosts")),
    "start_hosts_numbers": ([1, 2], dead("bad_hosts")),
}
OP_MUTATIONS = [
    "valid",
    "valid_unicode",
    "dup_progress",
    "dup_total_mismatch",
    "redelivered_message",
    "drop_start",
    "silent_with_end",
    "no_end",
    "host_not_in_list",
    "total_mismatch",
    "empty_start",
    "duplicate_host_start",
    "shared_request_id",
    "timestamp_offset",
    "no_request_id",
    "late_duplicate",
    "stranger_after_completion",
    *(f"field:{name}" for name in FIELD_MUTATIONS),
    *(f"start:{name}" for name in START_MUTATIONS),
]
VALID = ("valid", "valid_unicode")  # operations without any mutation
RAW_OPS = ("timestamp_offset", "no_request_id")  # every body of the operation published raw
JUNK = ["body_not_json", "body_not_utf8", "body_list", "body_scalar", "envelope_inner_not_json",
        "no_event_type_with_secrets", "unrelated_event"]  # fmt: skip


@dataclass(frozen=True)
class OpPlan:
    """What hypothesis draws for one operation."""

    mutation: str
    hosts: int
    prefix: str
    images: int
    failing: frozenset[int]
    pick: int  # which host a mutation is about
    junk: str | None  # a bridge-level bad body sent beside it


plans = st.builds(
    OpPlan,
    mutation=st.sampled_from(OP_MUTATIONS),
    hosts=st.integers(1, 10),
    prefix=st.sampled_from(HOST_PREFIXES),
    images=st.integers(1, 3),
    failing=st.frozensets(st.integers(0, 9), max_size=4),
    pick=st.integers(0, 9),
    junk=st.none() | st.sampled_from(JUNK),
)


P = TypeVar("P")


def draw_plans(fuzz_seed: int, count: int, strategy: st.SearchStrategy[P]) -> list[P]:
    """``count`` plans drawn by hypothesis, deterministic for a seed (no database, no
    shrinking: generation only)."""
    out: list[P] = []

    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @seed(fuzz_seed)
    @given(strategy)
    def collect(plan: P) -> None:
        out.append(plan)

    collect()
    return out


@dataclass
class FuzzRun:
    ops: list[FuzzOp]
    junk: list[Item]
    order: list[Item]  # everything, interleaved, in publish order
    inventory: list[InventoryCase] = field(default_factory=list)  # one per operation

    def mutated(self) -> int:
        """Bodies that are not a valid operation's: every body of an operation with a
        mutation (its bad copies and its genuine bodies, whose handling the mutation may
        change) and every bad body."""
        return sum(len(op.items) for op in self.ops if op.mutation not in VALID) + len(self.junk)

    def inventory_mutated(self) -> int:
        """The instance/aggregate bodies of cases with a mutation (beside ``mutated``)."""
        return sum(len(c.items) for c in self.inventory if not c.valid)

    def items(self) -> list[Item]:
        """Every body the pipeline judges (operations', inventory cases', bad bodies)."""
        inventory = [i for c in self.inventory for i in c.items]
        return [i for op in self.ops for i in op.items] + inventory + self.junk

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.order:
            out[item.label] = out.get(item.label, 0) + 1
        return dict(sorted(out.items()))


def generate(fuzz_seed: int, mutated: int) -> FuzzRun:
    """At least ``mutated`` mutated notifications (:meth:`FuzzRun.mutated`), with the valid
    operations drawn between them, and one instance/aggregate case per operation
    (:func:`inventory_cases`); all interleaved at random (seeded)."""
    ops: list[FuzzOp] = []
    junk: list[Item] = []
    ids = Ids(fuzz_seed)
    chunk = 0
    done = 0
    while done < mutated:
        for plan in draw_plans(fuzz_seed + chunk, 200, plans):
            op = build(_rotate(plan, len(ops)), ids, ops[-1] if ops else None)
            ops.append(op)
            done += 0 if op.mutation in VALID else len(op.items)
            if plan.junk:
                junk.append(junk_item(plan.junk, ids))
                done += 1
            if done >= mutated:
                break
        chunk += 1
    cases = inventory_cases(fuzz_seed, len(ops), ids)
    order = interleave(ops, junk, random.Random(fuzz_seed), cases)
    return FuzzRun(ops, junk, order, cases)


def inventory_cases(fuzz_seed: int, count: int, ids: Ids) -> list[InventoryCase]:
    """``count`` instance/aggregate cases: as operations, every other one takes the next kind
    in turn, one in four is valid (the next valid kind), the rest drawn."""
    out: list[InventoryCase] = []
    chunk = 0
    while len(out) < count:
        for plan in draw_plans(fuzz_seed + 7919 + chunk, 200, inventory_plans):
            i = len(out)
            if i % 4 == 1:
                plan = replace(plan, kind=VALID_KINDS[(i // 4) % len(VALID_KINDS)])
            elif i % 2 == 0:
                plan = replace(plan, kind=KINDS[(i // 2) % len(KINDS)])
            out.append(build_case(plan, ids, HOST_PREFIXES[i % len(HOST_PREFIXES)]))
            if len(out) == count:
                break
        chunk += 1
    return out


def _rotate(plan: OpPlan, i: int) -> OpPlan:
    """Every other operation takes the next mutation in turn (hypothesis's own choice of kind
    clusters; this guarantees each kind appears), one in four is valid; shapes stay drawn."""
    if i % 4 == 1:
        return replace(plan, mutation="valid")
    if i % 2 == 0:
        return replace(plan, mutation=OP_MUTATIONS[(i // 2) % len(OP_MUTATIONS)])
    return plan


def interleave(
    ops: list[FuzzOp],
    junk: list[Item],
    rng: random.Random,
    cases: list[InventoryCase],
) -> list[Item]:
    """Each operation's and case's bodies keep their order; operations, cases and junk are
    mixed."""
    queues = [list(op.items) for op in ops]
    for i, case in enumerate(cases):  # each case beside an operation, in flight with it
        queues.insert(2 * i + 1, list(case.items))
    queues += [[j] for j in junk]
    order: list[Item] = []
    live = [q for q in queues if q]
    window = 40  # operations in flight at once, as in a cloud with many operators
    while live:
        active = live[:window]
        q = rng.choice(active)
        order.append(q.pop(0))
        if not q:
            live.remove(q)
    return order


def build(plan: OpPlan, ids: Ids, previous: FuzzOp | None) -> FuzzOp:
    """The operation's bodies, in publish order, and what must become of it."""
    m = plan.mutation
    n = max(plan.hosts, 2) if m in ("silent_with_end", "no_end") else plan.hosts
    prefix = "hôte-" if m == "valid_unicode" else plan.prefix
    hosts = [f"{prefix}{i}" for i in range(1, n + 1)]
    images = [ids.next("image") for _ in range(plan.images)]
    silent = {hosts[plan.pick % n]} if m in ("silent_with_end", "no_end") else set()
    failed = {
        hosts[i]: images[: 1 + i % len(images)]
        for i in sorted(plan.failing)
        if i < n and hosts[i] not in silent
    }
    request_id = previous.request_id if m == "shared_request_id" and previous else None
    op = FuzzOp(
        mutation=m,
        aggregate_uuid=ids.next("aggregate"),
        request_id=request_id or f"req-{ids.next('request')}",
        hosts=hosts,
        images=images,
        failed=failed,
        silent=silent,
        completes=m != "no_end",
    )
    _Builder(op, plan, ids).run()
    return op


class _Builder:
    def __init__(self, op: FuzzOp, plan: OpPlan, ids: Ids) -> None:
        self.op, self.plan, self.m, self.ids = op, plan, plan.mutation, ids
        self.n = len(op.hosts)
        self.stamp = 0

    def run(self) -> None:
        op, m = self.op, self.m
        if m != "drop_start":
            self.start()
        progress = [h for h in op.hosts if h not in op.silent]
        target = progress[self.plan.pick % len(progress)]
        for index, host in enumerate(progress, 1):
            if host == target:
                self.before_target(host, index)
            self.add(self.progress(host, index), f"op:{m}" if m != "valid" else "valid")
            if m == "dup_progress" and host == target:
                self.add(self.progress(host, index), "dup:duplicate_progress")
            if m == "dup_total_mismatch" and host == target:
                # R4's order: another total is a total_mismatch even for a counted host;
                # after the last host the operation is completed: R7, ignored
                last = host == progress[-1]
                fate = APPLY if last else dead("total_mismatch")
                item = self.progress(host, index, total=self.n + 1, fate=fate)
                self.add(item, "late:total_mismatch_completed" if last else "bad:total_mismatch")
        if m == "redelivered_message":
            item = self.raw_item(PROGRESS, self.progress_payload(target, 1), APPLY, label="dup")
            self.op.items.append(item)
            self.op.items.append(Item("dup:redelivered_message_id", APPLY, body=item.body,
                                      message_id=item.message_id))  # fmt: skip
        if m != "no_end":
            self.add(self.list_item(END, op.hosts), f"op:{m}")
        if m == "late_duplicate":
            self.add(self.progress(target, 1), "late:duplicate_after_completion")
        if m == "stranger_after_completion":
            stranger = self.progress(f"{self.plan.prefix}stranger", 1)
            self.add(stranger, "late:stranger_after_completion")  # R7: ignored, no DLQ

    def start(self) -> None:
        op, m = self.op, self.m
        if m.startswith("start:"):
            hosts, fate = START_MUTATIONS[m.removeprefix("start:")]
            bad = self.list_item(START, hosts)
            bad.fate = fate
            self.add(bad, f"bad:{m}")
        if m == "empty_start":
            self.add(self.list_item(START, [], dead("no_hosts")), "bad:empty_start")
        elif m == "duplicate_host_start":
            hosts = [*op.hosts, op.hosts[0]]
            self.add(self.list_item(START, hosts, dead("duplicate_host")), "bad:duplicate_host")
        else:
            self.add(self.list_item(START, op.hosts), f"op:{m}")

    def before_target(self, host: str, index: int) -> None:
        m = self.m
        if m == "host_not_in_list":
            stranger = self.progress(f"{self.plan.prefix}stranger", index)
            stranger.fate = dead("host_not_in_operation")
            self.add(stranger, "bad:host_not_in_list")
        elif m == "total_mismatch":
            item = self.progress(host, index, total=self.n + 1, fate=dead("total_mismatch"))
            self.add(item, "bad:total_mismatch")
        elif m.startswith("field:"):
            self.add(self.field_mutation(m.removeprefix("field:"), host, index), f"bad:{m}")

    def add(self, item: Item, label: str) -> None:
        item.label = label
        self.op.items.append(item)

    def timestamp(self) -> str:
        self.stamp += 1
        if self.m == "timestamp_offset":  # 05:00 ahead of UTC: the same instant, converted
            return f"2026-11-24 00:{self.stamp // 60:02d}:{self.stamp % 60:02d}.5+05:00"
        return f"2026-11-23 19:{self.stamp // 60:02d}:{self.stamp % 60:02d}.674505"

    def progress_payload(
        self, host: str, index: int, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        op = self.op
        failed = op.failed.get(host, [])
        values = {
            "name": "my-aggregate",
            "uuid": op.aggregate_uuid,
            "host": host,
            "total": self.n,
            "index": index,
            "images_cached": [i for i in op.images if i not in failed],
            "images_failed": failed,
            "id": 1,
            **(data or {}),
        }
        return _nova_object("AggregateCachePayload", "1.0", values)

    def progress(self, host: str, index: int, fate: Fate = APPLY, **data: Any) -> Item:
        payload = self.progress_payload(host, index, data)
        if self.m in RAW_OPS:
            return self.raw_item(PROGRESS, payload, fate)
        return Item("", fate, PROGRESS, payload, self.op.request_id)

    def list_item(self, event_type: str, hosts: Any, fate: Fate = APPLY) -> Item:
        data = {"id": 1, "uuid": self.op.aggregate_uuid, "name": "my-aggregate", "hosts": hosts,
                "metadata": {}, "availability_zone": None}  # fmt: skip
        payload = _nova_object("AggregatePayload", "1.1", data)
        if self.m in RAW_OPS:
            return self.raw_item(event_type, payload, fate)
        return Item("", fate, event_type, payload, self.op.request_id)

    def raw_item(
        self, event_type: str, payload: Any, fate: Fate, label: str = "", **top: Any
    ) -> Item:
        fields = {"timestamp": self.timestamp(), "message_id": self.ids.next("message"), **top}
        if fields["message_id"] is NUMBER_ID:  # the bridge's header holds its digits
            fields["message_id"] = 10**15 + self.ids.n
        message = inner_message(event_type, payload, self.op.request_id, **fields)
        for key in [k for k, v in top.items() if v is None]:
            del message[key]
        if self.m == "no_request_id":  # the Notifier always sends one: raw only
            del message["_context_request_id"]
        return Item(label, fate, body=oslo_envelope(message), message_id=str(message["message_id"]))

    def field_mutation(self, name: str, host: str, index: int) -> Item:
        how, fate = FIELD_MUTATIONS[name]
        payload = self.progress_payload(host, index, how.get("data"))
        if "payload" in how:
            payload = how["payload"]
        event_type = how.get("event_type", PROGRESS)
        if "top" in how:
            item = self.raw_item(event_type, payload, fate, **how["top"])
        else:
            item = Item("", fate, event_type, payload, self.op.request_id)
        item.huge_number = name == "aggregate_id_huge"
        return item


def _nova_object(name: str, version: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "nova_object.name": name,
        "nova_object.namespace": "nova",
        "nova_object.version": version,
        "nova_object.data": data,
    }


def junk_item(kind: str, ids: Ids) -> Item:
    """A bridge-level body: each unique (a nonce), so its dead letter can be found by bytes."""
    nonce = ids.next(kind)
    if kind == "no_event_type_with_secrets":
        return _secret_item(kind, nonce)
    if kind == "unrelated_event":
        return _unrelated(kind, nonce)
    inner = f'"{{oops {nonce}"'
    bodies: dict[str, tuple[bytes, Fate]] = {
        "body_not_json": (b"{not json " + nonce.encode(), bridge_dead("not_json")),
        "body_not_utf8": (b"\xff\xfe\x00" + nonce.encode(), bridge_dead("not_utf8")),
        "body_list": (f'[1, 2, "{nonce}"]'.encode(), bridge_dead("not_envelope")),
        "body_scalar": (f'"{nonce}"'.encode(), bridge_dead("not_envelope")),
        "envelope_inner_not_json": (
            f'{{"oslo.version": "2.0", "oslo.message": {inner}}}'.encode(),
            bridge_dead("not_json", "not_envelope"),
        ),
    }
    body, fate = bodies[kind]
    return Item(kind, fate, body=body)


def _secret_item(kind: str, nonce: str) -> Item:
    """No event type, so a dead letter; its context carries tokens that must not reach Kafka."""
    token, nested = f"tok-{nonce}", f"nested-{nonce}"
    message = inner_message(PROGRESS, {"x": 1}, "req-x", message_id=nonce)
    del message["event_type"]
    message["_context_auth_token"] = token
    message["_context_service_catalog"] = [{"endpoints": [{"url": f"http://{token}"}]}]
    message["_context"] = {"auth_token": nested}
    return Item(kind, bridge_dead("no_event_type"), body=oslo_envelope(message),
                message_id=nonce, secrets=(token, nested))  # fmt: skip


def _unrelated(kind: str, nonce: str) -> Item:
    message = inner_message("compute.instance.update", {"x": nonce}, "req-x", message_id=nonce)
    return Item(kind, APPLY, body=oslo_envelope(message), message_id=nonce)
