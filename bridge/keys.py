"""The Kafka key: which partition a notification goes to, hence what stays in order.

All notifications of one aggregate operation share the aggregate uuid, so the pipeline sees them
in one partition and in order. Other events follow their own object (instance, service...).
"""

from typing import Any


def partition_key(message: dict[str, Any]) -> str | None:
    """Aggregate uuid for ``aggregate.*``; else the object's uuid; else the publisher."""
    uuid = _object_uuid(message.get("payload"))
    if uuid is not None:
        return uuid
    publisher = message.get("publisher_id")
    return publisher if isinstance(publisher, str) and publisher else None


def _object_uuid(payload: Any) -> str | None:
    """``nova_object.data.uuid`` of a versioned payload, ``instance_id`` of a legacy one.

    For ``aggregate.*`` events the payload is an Aggregate(Cache)Payload whose uuid is the
    aggregate's, so the same rule gives the aggregate uuid.
    """
    if not isinstance(payload, dict):
        return None
    data = payload.get("nova_object.data")
    source = data if isinstance(data, dict) else payload
    for field in ("uuid", "instance_id"):
        value = source.get(field)
        if isinstance(value, str) and value:
            return value
    return None
