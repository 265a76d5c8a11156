"""What the operations agent forwards to the inventory agent: the inputs of one raw record, as
records of the internal topic (touches keyed ``region/image``; each membership once per
partition, so every partition's table knows every aggregate's hosts)."""

from collections.abc import Mapping

from precache.pipeline import inventory_input
from precache.pipeline.inventory import Membership
from precache.pipeline.inventory_input import Input
from precache.pipeline.notifications import Notification

Record = tuple[bytes, bytes, int | None]  # key, value, partition (None: by key)


def records(items: list[Input], partitions: int) -> list[Record]:
    out: list[Record] = []
    for item in items:
        key, value = inventory_input.encode(item)
        if isinstance(item, Membership):
            out += [(key, value, p) for p in range(partitions)]
        else:
            out.append((key, value, None))
    return out


def from_operation(n: Notification, op_id: str, partitions: int) -> list[Record]:
    """A cache_images notification the operation rules accepted."""
    return records(inventory_input.from_cache_images(n, op_id), partitions)


def from_other(value: bytes | None, headers: Mapping[str, str], partitions: int) -> list[Record]:
    """An instance or aggregate notification; raises ``MalformedNotification`` (dead letter);
    ``[]`` when it is none of those or says nothing the inventory keeps."""
    items = inventory_input.parse_other(value, headers)
    return records(items, partitions) if items else []
