"""Other notifications Nova sends that the image cache inventory reads, through oslo's Notifier:
a spawn or rebuild on a host (``instance.create.end``, ``instance.rebuild.end``, published by
``nova-compute:<host>``) and a membership change of an aggregate (``aggregate.add_host.end``,
``aggregate.remove_host.end``, ``aggregate.delete.end``, published by ``nova-api``; the
payload lists the whole membership after the change, as Nova's AggregatePayload does)."""

import uuid
from collections.abc import Sequence
from typing import Any

from precache.simulate.broker import watch_deliveries
from precache.simulate.notifier import nova_context, nova_notifier
from precache.simulate.payloads import _nova_object
from precache.simulate.settings import SimulateSettings

INSTANCE_EVENTS = ("instance.create.end", "instance.rebuild.end")
AGGREGATE_EVENTS = ("aggregate.add_host.end", "aggregate.remove_host.end", "aggregate.delete.end")


def instance_payload(host: str, image: str, instance: str | None = None) -> dict[str, Any]:
    """The fields of ``InstanceCreatePayload`` the inventory reads, with Nova's names."""
    return _nova_object(
        "InstanceCreatePayload",
        "1.12",
        {
            "uuid": instance or str(uuid.uuid4()),
            "host": host,
            "node": host,
            "image_uuid": image,
            "state": "active",
            "task_state": None,
            "power_state": "running",
            "tenant_id": "admin",
            "display_name": "vm",
        },
    )


def membership_payload(
    aggregate_uuid: str, name: str, aggregate_id: int, hosts: Sequence[str]
) -> dict[str, Any]:
    return _nova_object(
        "AggregatePayload",
        "1.1",
        {
            "id": aggregate_id,
            "uuid": aggregate_uuid,
            "name": name,
            "hosts": list(hosts),
            "metadata": {},
            "availability_zone": None,
        },
    )


def send(
    settings: SimulateSettings,
    event_type: str,
    payload: dict[str, Any],
    publisher: str,
    request_id: str | None = None,
) -> str:
    """One notification; returns its request id. Raises as ``simulate_operation`` does."""
    request_id = request_id or f"req-{uuid.uuid4()}"
    key = payload["nova_object.data"]["uuid"]
    with watch_deliveries(key) as lost, nova_notifier(settings) as notifier:
        notifier.prepare(publisher_id=publisher).info(nova_context(request_id), event_type, payload)
        lost.raise_if_any(settings, 0)
    return request_id


def spawn(settings: SimulateSettings, host: str, image: str, rebuild: bool = False) -> str:
    """An instance built (or rebuilt) from ``image`` on ``host``."""
    event = INSTANCE_EVENTS[1] if rebuild else INSTANCE_EVENTS[0]
    return send(settings, event, instance_payload(host, image), f"nova-compute:{host}")


def membership(
    settings: SimulateSettings,
    event_type: str,
    aggregate_uuid: str,
    hosts: Sequence[str],
    name: str = "my-application",
    aggregate_id: int = 2,
) -> str:
    """An aggregate's membership after a change (``event_type`` in :data:`AGGREGATE_EVENTS`)."""
    if event_type not in AGGREGATE_EVENTS:
        raise ValueError(f"not an aggregate membership event: {event_type}")
    payload = membership_payload(aggregate_uuid, name, aggregate_id, hosts)
    return send(settings, event_type, payload, f"nova-api:{settings.conductor_host}")
