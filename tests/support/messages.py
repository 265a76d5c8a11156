"""Nova notifications as oslo.messaging puts them on the bus (inner message, envelope)."""

import uuid
from typing import Any

import orjson

ROUTING_KEY = "versioned_notifications.info"


def notification(aggregate: str, index: int, **extra: Any) -> dict[str, Any]:
    """A Nova aggregate.cache_images.progress notification, as oslo puts it in the envelope."""
    return {
        "message_id": str(uuid.uuid4()),
        "publisher_id": "nova-conductor:test",
        "event_type": "aggregate.cache_images.progress",
        "priority": "INFO",
        "payload": {
            "nova_object.name": "AggregateCachePayload",
            "nova_object.data": {
                "uuid": aggregate,
                "host": f"host{index}",
                "index": index,
                "total": 1000,
                "images_cached": ["img"],
                "images_failed": [],
            },
        },
        "timestamp": "2026-11-23 19:04:24.674505",
        "_context_user": "admin",
        **extra,
    }


def envelope(message: dict[str, Any]) -> bytes:
    return orjson.dumps({"oslo.version": "2.0", "oslo.message": orjson.dumps(message).decode()})


BIG = 40_000  # padding of a large body in the max_in_flight_bytes tests


def bodies(count: int, padding: int = 0) -> tuple[list[bytes], set[str]]:
    aggregate = str(uuid.uuid4())
    extra = {"padding": "x" * padding} if padding else {}
    messages = [notification(aggregate, i, **extra) for i in range(count)]
    return [envelope(m) for m in messages], {m["message_id"] for m in messages}
