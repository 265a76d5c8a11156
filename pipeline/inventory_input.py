"""Nova notifications -> the inventory's inputs (touches, memberships), and their records on
the worker's internal ``precache.inventory.input`` topic. Pure: no faust or Kafka import.

Read from the raw topic besides ``aggregate.cache_images.*`` (docs/inventory.md):

- ``instance.create.end``, ``instance.rebuild.end``: payload ``host`` and ``image_uuid``; a
  spawn or rebuild touches the image's base file on that host. No image (boot from volume) or
  no host yet: nothing to record;
- ``aggregate.{create,add_host,remove_host,update_metadata}.end`` and ``aggregate.delete.end``:
  AggregatePayload, ``hosts`` = the whole membership after the change.

Every field is checked as :mod:`pipeline.notifications` checks the cache_images ones; a bad one
raises :class:`MalformedNotification` (dead-lettered with its reason).
"""

import sys
from collections.abc import Mapping
from typing import Any

import orjson

from precache.pipeline.inventory import REPORTED_FAILED, Membership, State, Touch
from precache.pipeline.notifications import (
    INVENTORY_TYPES,
    End,
    MalformedNotification,
    Notification,
    Progress,
    Start,
    _aggregate,
    _hosts,
    _payload_data,
    _region,
    _request_id,
    _show,
    _text,
    json_object,
    nova_time,
)
from precache.pipeline.packing import pack

INSTANCE_TYPES = frozenset({"instance.create.end", "instance.rebuild.end"})
EVENT_TYPES = INVENTORY_TYPES  # the raw consumer's skip filter lets these through

Input = Touch | Membership


def parse_other(value: bytes | None, headers: Mapping[str, str]) -> list[Input] | None:
    """The inventory inputs of an instance/aggregate notification; None: not one of ours."""
    header = headers.get("event_type")
    if header is not None and header not in EVENT_TYPES:
        return None
    message = json_object(value)
    event_type = message.get("event_type")
    if type(event_type) is not str or event_type not in EVENT_TYPES:  # a list is unhashable
        return None
    data = _payload_data(message)
    region = _region(headers.get("region"))
    at = nova_time(message.get("timestamp"))
    if event_type in INSTANCE_TYPES:
        return _instance(event_type, data, region, at, message)
    agg = _aggregate(data)
    listed = data.get("hosts")  # Nova: a nullable list; "", 0 or {} is malformed, not empty
    hosts = _hosts([] if listed is None else listed)
    deleted = event_type == "aggregate.delete.end"
    return [
        Membership(region, agg.uuid, agg.name, () if deleted else hosts, at, deleted, event_type)
    ]


def _instance(
    event_type: str, data: dict[str, Any], region: str, at: str, message: dict[str, Any]
) -> list[Input]:
    host, image = data.get("host"), data.get("image_uuid")
    if host is None or image in (None, ""):
        return []  # not placed, or booted from a volume: no base image on any host
    if not _text(host):
        raise MalformedNotification("bad_host", f"bad instance host {_show(host)}")
    if not _text(image) or "/" in image:
        raise MalformedNotification("bad_images", f"bad instance image_uuid {_show(image)}")
    if "/" in host:
        raise MalformedNotification("bad_host", f"bad instance host {_show(host)}")
    request_id = _request_id(message.get("_context_request_id"), "request id")
    return [Touch(region, host, image, "cached", at, None, request_id, event_type)]


def from_cache_images(n: Notification, op_id: str) -> list[Input]:
    """What one accepted cache_images notification tells the inventory: a start or end lists
    the aggregate's hosts; a progress touches its host's images (the operation pairs it with
    its start, so ``op_id`` is known here)."""
    if isinstance(n, (Start, End)):
        agg = n.aggregate
        source = f"aggregate.cache_images.{n.kind}"
        return [Membership(n.region, agg.uuid, agg.name, n.hosts, n.timestamp, False, source)]
    if not isinstance(n, Progress) or "/" in n.host:
        return []  # a "/" would make region/host/image ambiguous: the host is not recorded
    touches: list[Input] = []
    pairs: tuple[tuple[State, tuple[str, ...]], ...] = (
        ("cached", n.images_cached),
        ("failed", n.images_failed),
    )
    for state, images in pairs:
        reason = REPORTED_FAILED if state == "failed" else None
        for image in images:
            if "/" not in image:  # not an image id (Glance ids are UUIDs)
                touches.append(
                    Touch(
                        n.region,
                        n.host,
                        image,
                        state,
                        n.timestamp,
                        op_id,
                        n.request_id,
                        reason=reason,
                    )
                )
    return touches


TOUCHES_PER_RECORD = 1000  # a record of at most ~300 kB (255-char names at worst: 1.3 MB)
MEMBERSHIP_RECORD_BYTES = 256 * 1024  # memberships packed per record (a larger one alone)


def encode(items: list[Input]) -> list[tuple[bytes, bytes, bool]]:
    """(key, value, to every partition) of the internal records for ``items``. Touches are
    grouped per ``region/image``, their key: all hosts of one image live in one partition, so
    ``GET /images/{image}`` reads one worker's index, and a batch of progress makes one record
    per image instead of one per host and image. Memberships go to every partition (see
    ``pipeline.inventory_store``), packed into records of up to ``MEMBERSHIP_RECORD_BYTES``:
    one record per membership was 8,000 of the inventory agent's 8,150 records in ``bench
    scale --steps 30000`` (1,000 operations, a start and an end each, 4 partitions), each
    a slice of its own for the agent and two produce round trips (bench/README.md, Run S5)."""
    out: list[tuple[bytes, bytes, bool]] = []
    groups: dict[tuple[str, str], list[list[Any]]] = {}
    memberships: list[tuple[bytes, bytes]] = []
    for item in items:
        if isinstance(item, Touch):
            group = groups.setdefault((item.region, item.image), [])
            group.append(
                [item.host, item.state, item.at, item.operation_id, item.request_id,
                 item.source, item.reason]
            )  # fmt: skip
        else:
            value = {
                "region": item.region,
                "uuid": item.uuid,
                "name": item.name,
                "hosts": list(item.hosts),
                "at": item.at,
                "deleted": item.deleted,
                "src": item.source,
            }
            memberships.append((item.key.encode(), orjson.dumps(value)))
    for run in pack(memberships, lambda m: len(m[1]) + 1, MEMBERSHIP_RECORD_BYTES):
        packed = b'{"t":"memberships","items":[' + b",".join(v for _, v in run) + b"]}"
        out.append((run[0][0], packed, True))
    for (region, image), touches in groups.items():
        key = f"{region}/{image}".encode()
        for i in range(0, len(touches), TOUCHES_PER_RECORD):
            part = touches[i : i + TOUCHES_PER_RECORD]
            group_value = {"t": "touches", "region": region, "image": image, "items": part}
            out.append((key, orjson.dumps(group_value), False))
    return out


def _intern(text: Any) -> Any:
    """One string object for the values many entries share (operation, request id, time,
    source): the inventory's index holds a million entries at 100k hosts x 10 images."""
    return sys.intern(text) if type(text) is str else text


class BadInput(ValueError):
    """A record on the internal topic that is not one the worker wrote."""


def decode(value: bytes | None) -> list[Input]:
    """The inputs of one internal record; :class:`BadInput` when it is not one we write."""
    try:
        d = orjson.loads(value or b"")
        if d["t"] == "touches":
            region, image = _intern(d["region"]), _intern(d["image"])
            out: list[Input] = []
            for host, state, at, op, req, src, reason in d["items"]:
                if state not in ("cached", "failed"):
                    raise BadInput(f"bad state {state!r}")
                out.append(
                    Touch(region, host, image, state, _intern(at), _intern(op), _intern(req),
                          _intern(src), _intern(reason))
                )  # fmt: skip
            return out
        if d["t"] == "memberships":
            return [_membership(m) for m in d["items"]]
        if d["t"] == "membership":  # one membership a record: written before 2026-12-06
            return [_membership(d)]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, BadInput):
            raise
        raise BadInput(f"not an inventory record: {exc!r}") from exc
    raise BadInput(f"unknown inventory record type {d.get('t')!r}")


def _membership(d: dict[str, Any]) -> Membership:
    return Membership(
        d["region"], d["uuid"], d["name"], tuple(d["hosts"]), d["at"], d["deleted"], d["src"]
    )
