"""``precache.image.cache`` events; ids are deterministic.

The id derives from the key and the entry's two marks, so an entry re-emitted after a crash
(redelivery) keeps its id and a consumer can de-duplicate it.

:func:`build` makes the contract's model. :func:`encode`, which the inventory agent runs for
every changed entry (60,000 per ``bench scale --steps 30000``), writes the same bytes without
it: through the model (validation, ``model_dump_json``, ``uuid.uuid5``) an event took 19 us,
6.6 us this way (bench/README.md, Run S4). The contract stays the single source of truth:
an entry the fast path cannot vouch for (a field the model would reject, a name JSON cannot
carry) goes through the model, so it is rejected or written exactly as before, and
tests/unit/pipeline/test_inventory_events.py holds the two paths byte for byte equal on random
entries and fails when the model gains, loses or renames a field.
"""

import hashlib
import re
import uuid
from typing import Any

import orjson

from precache.contract import EventType, ImageCacheData, ImageCacheEvent
from precache.contract.kafka_binding import record_key
from precache.pipeline.inventory import Entry, Policy, entry_key, view

NAMESPACE = uuid.UUID("0b8c1f7e-4f53-4c41-9a55-3d1f1b2a6c21")
_NAMESPACE_BYTES = NAMESPACE.bytes
_TYPE = EventType.IMAGE_CACHE.value
# A subset of the contract's TIME_PATTERN (ASCII digits, the whole text): a time that matches
# it is one the model accepts; any other goes to the model, which decides
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z")


def build(entry: Entry, policy: Policy) -> ImageCacheEvent:
    data = ImageCacheData(**view(entry, policy))
    key = entry_key(data.region, data.host, data.image)
    return ImageCacheEvent(
        specversion="1.0",
        id=uuid.uuid5(NAMESPACE, _id_name(key, entry)),
        source=f"/precache/{data.region}",
        subject=key,
        partitionkey=key,
        time=data.touched_at,
        datacontenttype="application/json",
        type=EventType.IMAGE_CACHE,
        data=data,
    )


def encode(entry: Entry, policy: Policy) -> tuple[bytes, bytes]:
    """(key, value) of the entry's record on ``precache.image.cache``: the bytes
    ``build(entry, policy).model_dump_json()`` gives, written from a dict by orjson."""
    data = view(entry, policy)
    if not _plain(data):
        return _encode_model(entry, policy)
    key = f"{data['region']}/{data['host']}/{data['image']}"
    try:
        value = orjson.dumps(
            {  # the order of ImageCacheEvent's fields
                "specversion": "1.0",
                "id": event_id(_id_name(key, entry)),
                "source": "/precache/" + data["region"],
                "subject": key,
                "time": data["touched_at"],
                "datacontenttype": "application/json",
                "partitionkey": key,
                "type": _TYPE,
                "data": data,
            }
        )
    except (UnicodeEncodeError, orjson.JSONEncodeError):  # a lone surrogate: the model's error
        return _encode_model(entry, policy)
    return key.encode(), value


def _encode_model(entry: Entry, policy: Policy) -> tuple[bytes, bytes]:
    event = build(entry, policy)
    return record_key(event), event.model_dump_json().encode()


def _id_name(key: str, entry: Entry) -> str:
    marks = "|".join(
        f"{m['at']}/{m.get('op')}/{m.get('src')}" if m else "-"
        for m in (entry.get("cached"), entry.get("failed"))
    )
    return f"{key}|{marks}"


def event_id(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))`` from the SHA-1 hex digest: a third of its cost
    (no ``UUID`` object; RFC 4122 section 4.3: version 5 in the 13th hex digit, variant 10 in
    the top bits of the 17th)."""
    h = hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).hexdigest()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def _plain(data: dict[str, Any]) -> bool:
    """Does ImageCacheData accept ``data`` as it is, every text a plain ``str``? Stricter than
    the model (a printable region, the times' ASCII digits): anything else takes the model's
    path, never a looser one. ``state`` and the forecast are written by :func:`view` itself."""
    region, host, image = data["region"], data["host"], data["image"]
    touched, cached = data["touched_at"], data["cached_at"]
    return (
        type(region) is str
        and region.isprintable()  # the envelope's source: /precache/.+
        and region != ""
        and type(host) is str
        and host != ""
        and type(image) is str
        and image != ""
        and type(touched) is str
        and _TIME.fullmatch(touched) is not None
        and (cached is None or (type(cached) is str and _TIME.fullmatch(cached) is not None))
        and type(data["source"]) is str
        and _text_or_none(data["reason"])
        and _text_or_none(data["operation_id"])
        and _text_or_none(data["request_id"])
    )


def _text_or_none(value: Any) -> bool:
    return value is None or type(value) is str
