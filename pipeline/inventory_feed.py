"""What the operations agent forwards to the inventory agent: the inputs of its records, as
records of the internal topic (touches grouped and keyed ``region/image``; each membership
once per partition, so every partition's table knows every aggregate's hosts)."""

from collections.abc import Mapping

from precache.pipeline import inventory_input
from precache.pipeline.inventory_input import Input as Input  # re-exported for the agent
from precache.pipeline.notifications import Notification

Record = tuple[bytes, bytes, int | None]  # key, value, partition (None: by key)


def records(items: list[Input], partitions: int) -> list[Record]:
    """A batch's inputs as internal records, in the batch's order per key."""
    out: list[Record] = []
    for key, value, everywhere in inventory_input.encode(items):
        if everywhere:
            out += [(key, value, p) for p in range(partitions)]
        else:
            out.append((key, value, None))
    return out


def from_operation(n: Notification, op_id: str) -> list[Input]:
    """A cache_images notification the operation rules accepted."""
    return inventory_input.from_cache_images(n, op_id)


def from_other(value: bytes | None, headers: Mapping[str, str]) -> list[Input]:
    """An instance or aggregate notification; raises ``MalformedNotification`` (dead letter);
    ``[]`` when it is none of those or says nothing the inventory keeps."""
    return inventory_input.parse_other(value, headers) or []
