"""``precache.image.cache`` events, built through the contract's model; ids are deterministic.

The id derives from the key and the entry's two marks, so an entry re-emitted after a crash
(redelivery) keeps its id and a consumer can de-duplicate it.
"""

import uuid

from precache.contract import EventType, ImageCacheData, ImageCacheEvent
from precache.contract.kafka_binding import record_key
from precache.pipeline.inventory import Entry, Policy, entry_key, view

NAMESPACE = uuid.UUID("0b8c1f7e-4f53-4c41-9a55-3d1f1b2a6c21")


def build(entry: Entry, policy: Policy) -> ImageCacheEvent:
    data = ImageCacheData(**view(entry, policy))
    key = entry_key(data.region, data.host, data.image)
    marks = "|".join(
        f"{m['at']}/{m.get('op')}/{m.get('src')}" if m else "-"
        for m in (entry.get("cached"), entry.get("failed"))
    )
    return ImageCacheEvent(
        specversion="1.0",
        id=uuid.uuid5(NAMESPACE, f"{key}|{marks}"),
        source=f"/precache/{data.region}",
        subject=key,
        partitionkey=key,
        time=data.touched_at,
        datacontenttype="application/json",
        type=EventType.IMAGE_CACHE,
        data=data,
    )


def encode(entry: Entry, policy: Policy) -> tuple[bytes, bytes]:
    """(key, value) of the entry's record on ``precache.image.cache``."""
    event = build(entry, policy)
    return record_key(event), event.model_dump_json().encode()
