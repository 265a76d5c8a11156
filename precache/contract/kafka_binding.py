"""How a derived event is laid on a Kafka record: the CloudEvents Kafka protocol binding.

Structured content mode: the record value is the whole event in the JSON format, and the
``content-type`` header names that format, so a CloudEvents SDK reads our records as they are.
The record key is the operation id, which the event also carries as the ``partitionkey``
extension: every event of one operation lands on one partition, in order, and the status topic
compacts to the latest state of each operation.
"""

from precache.contract.events import CloudEvent

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
HEADERS: tuple[tuple[str, bytes], ...] = (("content-type", CONTENT_TYPE.encode()),)


def record_key(event: CloudEvent) -> bytes:
    """The Kafka key of ``event``: its ``partitionkey`` (the operation id)."""
    return event.partitionkey.encode()


def is_structured(headers: list[tuple[str, bytes]] | None) -> bool:
    """Whether a record's headers say structured mode (``content-type`` of the JSON format)."""
    for name, value in headers or ():
        if name.lower() == "content-type":
            return value.decode("latin-1").lower().startswith("application/cloudevents+json")
    return False
