"""The inventory and rollouts agents and records whose partitions the broker gave to another
worker while they were applied (``pipeline.ownership``): their state must not land after the
new owner's.

Why this level (``apply_batch`` with a table both workers write, as they write one changelog,
and the group membership flipped during the events' confirmation await): a real expulsion needs a
revocation that outlasts the 60 s rebalance timeout, or a lost session, to fall on one chosen
await of a worker process; the consumer's side of it (aiokafka resets the generation while the
revocation waits) is shown on the real broker in tests/integration/test_pipeline_rebalance.py.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from faust.types import Message

from precache.pipeline.inventory import Policy, Touch
from precache.pipeline.inventory_agent import Inventory, apply_batch
from precache.pipeline.inventory_input import encode
from precache.pipeline.inventory_store import InventoryStore
from precache.pipeline.rollout_agent import Rollouts, apply
from precache.pipeline.rollout_store import RolloutStore
from tests.support.record_batches import BatchApi, Member
from tests.support.rollout_events import record, target

OLDER, NEWER = "2026-12-06T09:00:00.000000Z", "2026-12-06T10:00:00.000000Z"


@dataclass(eq=False)
class Event:
    message: Message


class Producer(BatchApi):
    """Records every send; Kafka's confirmation waits for ``release`` while ``holding``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None]] = []
        self.holding = False
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()
        self._later: set[asyncio.Task[None]] = set()

    async def send(self, topic: str, key: bytes | None, *_: Any) -> "asyncio.Future[None]":
        self.sent.append((topic, key))
        fut = asyncio.get_running_loop().create_future()
        if not self.holding:
            fut.set_result(None)
            return fut
        self.waiting.set()

        async def later() -> None:
            await self.release.wait()
            fut.set_result(None)

        task = asyncio.ensure_future(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)
        return fut


@dataclass
class App:
    producer: Producer


@dataclass
class Topic:
    name: str
    app: App

    def get_topic_name(self) -> str:
        return self.name


class Changelog(dict[str, Any]):
    """The inventory table as the changelog has it: the last write of a key wins."""

    def take_pending(self) -> list["asyncio.Future[None]"]:
        return []


def worker(table: Changelog, member: Member, producer: Producer) -> Inventory:
    app = App(producer)
    store = InventoryStore(table, 1_000)
    store.recovered()
    return Inventory(
        topic=Topic("inventory", app),
        events=Topic("image.cache", app),
        dlq=Topic("dlq", app),
        store=store,
        policy=Policy(),
        partitions=1,
        confirm_timeout_s=5.0,
        ownership=member,
    )


def touch(at: str, offset: int) -> Event:
    item = Touch("r1", "host-1", "img", "cached", at, "op-1")
    ((key, value, _),) = encode([item])
    return Event(Message("inventory", 0, offset, 0.0, 0, [], key, value, None))


def cached_at(table: Changelog) -> str:
    return str(table["e|r1/host-1/img"]["cached"]["at"])


def test_a_slice_whose_partitions_moved_while_its_events_were_confirmed_is_not_written() -> None:
    """A applies the older touch and waits for Kafka to confirm its event; the broker gives the
    partition to B, which applies the older touch and then the newer one; A's confirmation
    comes back. The entry must stay the newer one, and A count nothing."""

    async def go() -> None:
        table = Changelog()
        a_member, a_producer = Member(), Producer()
        a = worker(table, a_member, a_producer)
        a_producer.holding = True
        applying = asyncio.ensure_future(apply_batch(a, [touch(OLDER, 0)]))
        await a_producer.waiting.wait()
        assert not applying.done()
        a_member.held = False  # the broker gave A's partition to B
        b = worker(table, Member(), Producer())
        for offset, at in enumerate((OLDER, NEWER)):  # from the committed offset
            await apply_batch(b, [touch(at, offset)])
        assert cached_at(table) == NEWER
        a_producer.release.set()
        held = await applying
        assert cached_at(table) == NEWER  # not the older state after B's
        assert held is False
        assert (a.stats.applied, a.stats.skipped) == ({}, {})

    asyncio.run(go())


def test_a_slice_whose_partitions_moved_before_its_events_were_sent_sends_nothing() -> None:
    async def go() -> None:
        table, member, producer = Changelog(), Member(), Producer()
        a = worker(table, member, producer)
        member.held = False
        assert await apply_batch(a, [touch(OLDER, 0)]) is False
        assert (table, producer.sent, a.stats.applied) == ({}, [], {})

    asyncio.run(go())


def test_a_rollout_record_of_a_lost_generation_is_neither_applied_nor_counted() -> None:
    """The rollouts agent applies a record with no await before its write: the broker may have
    given the partition away before the record reached it (aiokafka has heard of it)."""

    async def go() -> None:
        table, member = Changelog(), Member()
        r = Rollouts(
            topic=Topic("rollout", App(Producer())),
            dlq=Topic("dlq", App(Producer())),
            store=RolloutStore(table),
            confirm_timeout_s=5.0,
            ownership=member,
        )
        key, value = record(target(1))
        event = Event(Message("rollout", 0, 0, 0.0, 0, [], key, value, None))
        member.held = False
        await apply(r, event)
        assert table == {}
        assert (r.stats.applied, r.stats.unchanged, r.stats.dead) == (0, 0, 0)
        assert member.disowned == [event]

    asyncio.run(go())
