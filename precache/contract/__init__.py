"""The derived events precache publishes: the one definition every producer and reader uses.

``events`` holds the typed models (the CloudEvents envelope and each event's ``data``),
``kafka_binding`` how an event is laid on a Kafka record, ``schemas`` writes the JSON Schemas in
``schemas/`` from the models.
"""

from precache.contract.events import (
    Aggregate,
    CloudEvent,
    CompletedEvent,
    DerivedEvent,
    EventType,
    HostFailedData,
    HostFailedEvent,
    ImageCacheData,
    ImageCacheEvent,
    InvalidEvent,
    OperationData,
    StalledEvent,
    StatusEvent,
    canonical_time,
    decode,
    encode,
    parse_time,
)

__all__ = [
    "Aggregate",
    "CloudEvent",
    "CompletedEvent",
    "DerivedEvent",
    "EventType",
    "HostFailedData",
    "HostFailedEvent",
    "ImageCacheData",
    "ImageCacheEvent",
    "InvalidEvent",
    "OperationData",
    "StalledEvent",
    "StatusEvent",
    "canonical_time",
    "decode",
    "encode",
    "parse_time",
]
