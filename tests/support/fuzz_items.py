"""What the fuzz publishes and what must become of it: shared by the cache_images operations
(tests/support/fuzz.py) and the inventory's cases (tests/support/fuzz_inventory.py)."""

import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fate:
    """What must become of one published body.

    ``dlq``: the pipeline DLQ reasons allowed; ``must_dlq``: it must be dead-lettered (else it
    may be, with one of ``dlq``, or - when ``dlq`` is empty - must not be). ``bridge``: the
    bridge DLQ reasons allowed for a body that must never reach the raw topic.
    """

    dlq: frozenset[str] = frozenset()
    must_dlq: bool = False
    bridge: frozenset[str] = frozenset()


APPLY = Fate()


def dead(*reasons: str) -> Fate:
    return Fate(frozenset(reasons), True)


def bridge_dead(*reasons: str) -> Fate:
    return Fate(bridge=frozenset(reasons))


@dataclass
class Item:
    """One body to publish: through oslo's Notifier (``event_type``/``payload``) or, for what
    the Notifier cannot produce, raw through kombu (``body``)."""

    label: str
    fate: Fate
    event_type: str | None = None
    payload: Any = None
    request_id: str | None = None
    body: bytes | None = None
    message_id: str | None = None  # known up front for raw bodies, after publishing otherwise
    secrets: tuple[str, ...] = ()
    huge_number: bool = False  # the raw record must keep HUGE_ID's digits

    @property
    def raw(self) -> bool:
        return self.body is not None


class Ids:
    """Ids from the seed and a counter, never from hypothesis: two cases never share one."""

    def __init__(self, fuzz_seed: int) -> None:
        self.namespace = uuid.uuid5(uuid.NAMESPACE_OID, f"precache-fuzz-{fuzz_seed}")
        self.n = 0

    def next(self, kind: str) -> str:
        self.n += 1
        return str(uuid.uuid5(self.namespace, f"{kind}-{self.n}"))
