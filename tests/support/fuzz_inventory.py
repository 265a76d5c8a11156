"""The fuzz's instance and aggregate notifications: the image cache inventory's other inputs
(``pipeline.inventory_input.parse_other``), valid and mutated, each case with what the
inventory must show afterwards known by construction.

Payloads are Nova's: an instance's is built from Nova's ``instance.update`` sample
(bench/nova_other_samples, InstancePayload's fields) turned into the create/rebuild payload
Nova sends, an aggregate's from Nova's AggregatePayload sample. Every case has hosts, images
and an aggregate of its own (ids from the seed), so its expectations never depend on another
case: a valid touch is a row (host, image, source of the newest touch), a "nothing recorded"
one (boot from volume, no host yet) and a dead-lettered one leave no row, and an aggregate's
membership is its newest valid notification's ``hosts`` (deleted: unknown).
"""

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hypothesis import strategies as st

from bench.synthetic import other_samples
from tests.support.fuzz_items import APPLY, Fate, Ids, Item, dead
from tests.support.nova_samples import SAMPLES
from tests.support.publishers import inner_message, oslo_envelope

CREATE, REBUILD = "instance.create.end", "instance.rebuild.end"
AGG_CREATE, ADD, REMOVE, METADATA, DELETE = (
    f"aggregate.{k}.end" for k in ("create", "add_host", "remove_host", "update_metadata", "delete")
)
OLD_STAMP = "2001-01-01 00:00:00.000000"  # before any Notifier's stamp: an older touch
FEB_30 = "2026-02-30 10:00:00"
NOTHING = Fate()  # valid, records nothing, never dead-lettered

# instance mutations: name -> (payload data changes, or "payload"/"top" for the whole, fate);
# DELETED marks a field removed
DELETED = object()
INSTANCE_MUTATIONS: dict[str, tuple[dict[str, Any], Fate]] = {
    "boot_from_volume_empty": ({"image_uuid": ""}, NOTHING),
    "boot_from_volume_null": ({"image_uuid": None}, NOTHING),
    "image_missing": ({"image_uuid": DELETED}, NOTHING),
    "host_null": ({"host": None}, NOTHING),  # not placed yet
    "host_missing": ({"host": DELETED}, NOTHING),
    "host_number": ({"host": 42}, dead("bad_host")),
    "host_empty": ({"host": ""}, dead("bad_host")),
    "host_control_chars": ({"host": "evil\x1b[31m\x07"}, dead("bad_host")),
    "host_5000_chars": ({"host": "h" * 5000}, dead("bad_host")),
    "host_slash": ({"host": "rack7/compute-1"}, dead("bad_host")),
    "image_number": ({"image_uuid": 7}, dead("bad_images")),
    "image_list": ({"image_uuid": ["x"]}, dead("bad_images")),
    "image_control_chars": ({"image_uuid": "img\x1b[2J"}, dead("bad_images")),
    "image_5000_chars": ({"image_uuid": "i" * 5000}, dead("bad_images")),
    "image_slash": ({"image_uuid": "../etc/passwd"}, dead("bad_images")),
    "payload_string": ({"payload": "nova"}, dead("bad_payload")),
    "payload_list": ({"payload": [1, 2]}, dead("bad_payload")),
    "payload_no_data": ({"payload": {}}, dead("bad_payload")),
    "timestamp_invalid_date": (
        {"top": {"timestamp": "2026-02-30 10:00:00"}},
        dead("bad_timestamp"),
    ),
    "timestamp_missing": ({"top": {"timestamp": None}}, dead("bad_timestamp")),
    "timestamp_number": ({"top": {"timestamp": 1764411864}}, dead("bad_timestamp")),
    "request_id_number": ({"top": {"_context_request_id": 12345}}, dead("bad_request_id")),
}
AGGREGATE_MUTATIONS: dict[str, tuple[dict[str, Any], Fate]] = {
    "hosts_string": ({"hosts": "a,b"}, dead("bad_hosts")),
    "hosts_numbers": ({"hosts": [1, 2]}, dead("bad_hosts")),
    "hosts_empty_string": ({"hosts": ""}, dead("bad_hosts")),
    "hosts_zero": ({"hosts": 0}, dead("bad_hosts")),
    "hosts_object": ({"hosts": {}}, dead("bad_hosts")),
    "hosts_control_chars": ({"hosts": ["ok", "evil\x1b[31m"]}, dead("bad_hosts")),
    "hosts_5000_chars": ({"hosts": ["h" * 5000]}, dead("bad_hosts")),
    "hosts_duplicate": ({"hosts": ["dup", "dup"]}, dead("duplicate_host")),
    "uuid_missing": ({"uuid": DELETED}, dead("bad_aggregate")),
    "uuid_number": ({"uuid": 7}, dead("bad_aggregate")),
    "uuid_slash": ({"uuid": "agg/1"}, dead("bad_aggregate")),
    "name_number": ({"name": 7}, dead("bad_aggregate")),
    "id_negative": ({"id": -1}, dead("bad_aggregate")),
    "payload_string": ({"payload": "nova"}, dead("bad_payload")),
    "payload_no_data": ({"payload": {"nova_object.name": "AggregatePayload"}}, dead("bad_payload")),
    "timestamp_garbage": ({"top": {"timestamp": "yesterday"}}, dead("bad_timestamp")),
}
# valid cases: a touch or a membership history, no mutation
VALID_KINDS = ["instance_create", "instance_rebuild", "instance_create_then_rebuild",
               "instance_two_hosts", "instance_older_touch", "aggregate_lifecycle",
               "aggregate_deleted", "aggregate_hosts_null", "aggregate_older"]  # fmt: skip
KINDS = [
    *VALID_KINDS,
    *(f"instance:{k}" for k in INSTANCE_MUTATIONS),
    *(f"aggregate:{k}" for k in AGGREGATE_MUTATIONS),
]


def mutated(payload: dict[str, Any], how: dict[str, Any]) -> Any:
    """``payload`` with a mutation's data changes (``DELETED``: the field removed), or the
    mutation's whole ``payload`` instead; ``top`` (envelope fields) is the publisher's."""
    data = payload["nova_object.data"]
    for key, value in how.items():
        if key in ("payload", "top"):
            continue
        if value is DELETED:
            del data[key]
        else:
            data[key] = value
    return how.get("payload", payload)


@dataclass
class InventoryCase:
    """One case's bodies, in publish order, and what the inventory must show after them."""

    kind: str
    items: list[Item] = field(default_factory=list)
    rows: dict[str, dict[str, str]] = field(default_factory=dict)  # image -> host -> source
    no_image: set[str] = field(default_factory=set)  # images with no row anywhere
    no_host: set[str] = field(default_factory=set)  # hosts with no row and no aggregate
    members: dict[str, tuple[str, ...] | None] = field(default_factory=dict)  # None: unknown
    aggregate_hosts: list[str] = field(default_factory=list)  # every host an aggregate case named

    def aggregates_of(self, host: str) -> set[str]:
        """The case's live aggregates ``host`` is a member of, as ``GET /hosts/{host}`` lists."""
        return {uuid for uuid, hosts in self.members.items() if hosts and host in hosts}

    @property
    def valid(self) -> bool:
        return self.kind in VALID_KINDS


@dataclass(frozen=True)
class InventoryPlan:
    """What hypothesis draws for one case."""

    kind: str
    hosts: int
    steps: int  # membership changes of a valid aggregate's history
    rebuild: bool


inventory_plans = st.builds(
    InventoryPlan,
    kind=st.sampled_from(KINDS),
    hosts=st.integers(1, 4),
    steps=st.integers(1, 4),
    rebuild=st.booleans(),
)


@cache
def _instance_sample() -> dict[str, Any]:
    sample: dict[str, Any] = other_samples()["instance-update"]
    return sample


@cache
def _aggregate_sample() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(
        (SAMPLES / "common_payloads" / "AggregatePayload.json").read_text()
    )
    return payload


def instance_payload(event_type: str, instance: str, host: Any, image: Any) -> dict[str, Any]:
    """Nova's create/rebuild payload: InstancePayload's fields (the ``instance.update``
    sample's, without what only an update carries) and the action payload's own."""
    payload: dict[str, Any] = copy.deepcopy(_instance_sample()["payload"])
    data = payload["nova_object.data"]
    for only_update in ("audit_period", "old_display_name", "state_update"):
        del data[only_update]
    data.update(uuid=instance, host=host, node=host, image_uuid=image, state="active",
                task_state=None, power_state="running", launched_at=data["created_at"])  # fmt: skip
    if event_type == CREATE:
        data.update(keypairs=[], tags=[], trusted_image_certificates=None,
                    instance_name="instance-00000001", block_devices=[])  # fmt: skip
        payload.update({"nova_object.name": "InstanceCreatePayload", "nova_object.version": "1.12"})
    else:
        data.update(fault=None, trusted_image_certificates=None)
        payload.update(
            {"nova_object.name": "InstanceActionRebuildPayload", "nova_object.version": "1.8"}
        )
    return payload


def aggregate_payload(uuid: str, name: str, hosts: Any) -> dict[str, Any]:
    payload = copy.deepcopy(_aggregate_sample())
    payload["nova_object.data"].update(uuid=uuid, name=name, hosts=hosts)
    return payload


def build_case(plan: InventoryPlan, ids: Ids, prefix: str) -> InventoryCase:
    return _CaseBuilder(plan, ids, prefix).run()


class _CaseBuilder:
    def __init__(self, plan: InventoryPlan, ids: Ids, prefix: str) -> None:
        self.plan, self.ids = plan, ids
        self.case = InventoryCase(plan.kind)
        self.request_id = f"req-{ids.next('inv-request')}"
        tag = ids.next("inv-host")[:8]
        self.hosts = [f"{prefix}inv-{tag}-{i}" for i in range(1, max(plan.hosts, 2) + 1)]
        self.image = ids.next("inv-image")

    def run(self) -> InventoryCase:
        kind = self.plan.kind
        if kind.startswith("instance"):
            self.instance_case(kind)
        else:
            self.aggregate_case(kind)
        return self.case

    def add(self, item: Item, label: str) -> None:
        item.label = f"inv:{label}"
        self.case.items.append(item)

    def notify(self, event_type: str, payload: Any, fate: Fate = APPLY) -> Item:
        return Item("", fate, event_type, payload, self.request_id)

    def raw(self, event_type: str, payload: Any, fate: Fate, **top: Any) -> Item:
        fields = {"timestamp": "2026-11-23 19:04:24.674505", "message_id": self.ids.next("message"),
                  **top}  # fmt: skip
        message = inner_message(event_type, payload, self.request_id, **fields)
        for key in [k for k, v in top.items() if v is None]:
            del message[key]
        return Item("", fate, body=oslo_envelope(message), message_id=str(message["message_id"]))

    def touch(self, host: str, source: str) -> None:
        self.case.rows.setdefault(self.image, {})[host] = source

    def instance_case(self, kind: str) -> None:
        host, image, event = self.hosts[0], self.image, REBUILD if self.plan.rebuild else CREATE
        instance = self.ids.next("instance")
        if kind in ("instance_create", "instance_rebuild"):
            event = CREATE if kind == "instance_create" else REBUILD
            self.add(self.notify(event, instance_payload(event, instance, host, image)), "valid")
            self.touch(host, event)
        elif kind == "instance_create_then_rebuild":  # the newest touch's source
            for event in (CREATE, REBUILD):
                self.add(self.notify(event, instance_payload(event, instance, host, image)),
                         "valid")  # fmt: skip
            self.touch(host, REBUILD)
        elif kind == "instance_two_hosts":
            for h in self.hosts[:2]:
                payload = instance_payload(CREATE, self.ids.next("instance"), h, image)
                self.add(self.notify(CREATE, payload), "valid")
                self.touch(h, CREATE)
        elif kind == "instance_older_touch":  # an older rebuild after it changes nothing
            self.add(self.notify(CREATE, instance_payload(CREATE, instance, host, image)), "valid")
            payload = instance_payload(REBUILD, instance, host, image)
            self.add(self.raw(REBUILD, payload, APPLY, timestamp=OLD_STAMP), "valid:older")
            self.touch(host, CREATE)
        else:
            self.instance_mutation(kind.removeprefix("instance:"), event, instance)

    def instance_mutation(self, name: str, event: str, instance: str) -> None:
        how, fate = INSTANCE_MUTATIONS[name]
        host, image = self.hosts[0], self.image
        payload = mutated(instance_payload(event, instance, host, image), how)
        if "top" in how:
            item = self.raw(event, payload, fate, **how["top"])
        else:
            item = self.notify(event, payload, fate)
        self.add(item, f"{'bad' if fate.must_dlq else 'none'}:{name}")
        self.case.no_host.add(host)  # a dead letter or nothing recorded: no trace at all
        self.case.no_image.add(image)

    def aggregate_case(self, kind: str) -> None:
        uuid, name = self.ids.next("inv-aggregate"), f"fuzz-{self.plan.steps}"
        hosts = self.case.aggregate_hosts = self.hosts

        def send(event: str, members: Any, label: str = "valid", **top: Any) -> None:
            payload = aggregate_payload(uuid, name, members)
            item = self.raw(event, payload, APPLY, **top) if top else self.notify(event, payload)
            self.add(item, label)

        if kind in ("aggregate_lifecycle", "aggregate_deleted"):
            send(AGG_CREATE, [])  # Nova creates an aggregate empty
            members: list[str] = []
            for step in range(self.plan.steps):  # add, add, ..., then a metadata change
                if step == self.plan.steps - 1 and step > 0:
                    send(METADATA, members)
                elif len(members) < len(hosts):
                    members = hosts[: len(members) + 1]
                    send(ADD, members)
            if kind == "aggregate_deleted":
                send(REMOVE, [])  # Nova deletes an empty aggregate only
                send(DELETE, [])
                self.case.members[uuid] = None
            else:
                if len(members) > 1:
                    members = members[1:]
                    send(REMOVE, members)
                self.case.members[uuid] = tuple(members)
        elif kind == "aggregate_hosts_null":  # Nova's hosts is a nullable list: no hosts
            send(ADD, hosts[:1])
            send(METADATA, None)
            self.case.members[uuid] = ()
        elif kind == "aggregate_older":  # an older membership after it changes nothing
            send(ADD, hosts)
            send(REMOVE, hosts[1:], "valid:older", timestamp=OLD_STAMP)
            self.case.members[uuid] = tuple(hosts)
        else:
            self.aggregate_mutation(kind.removeprefix("aggregate:"), uuid, name)

    def aggregate_mutation(self, mutation: str, uuid: str, name: str) -> None:
        """A valid membership first: the bad one after it must change nothing."""
        how, fate = AGGREGATE_MUTATIONS[mutation]
        members = self.hosts[:1]
        self.add(self.notify(ADD, aggregate_payload(uuid, name, members)), "valid:before")
        payload = mutated(aggregate_payload(uuid, name, self.hosts), how)
        event = (ADD, REMOVE, METADATA)[self.plan.steps % 3]
        item = self.raw(event, payload, fate, **how["top"]) if "top" in how else None
        self.add(item or self.notify(event, payload, fate), f"bad:{mutation}")
        self.case.members[uuid] = tuple(members)
