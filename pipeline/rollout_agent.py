"""The rollouts agent: applies ``precache.rollout`` (what rollout and keep-warm asked Nova for,
and which targets became ready or failed) to the ``rollouts`` table, for ``GET /rollouts``.

One record at a time, as the inventory agent: a record that is not a rollout event (not JSON,
an unknown type, a field out of the contract, a key that is not its ``region/aggregate uuid``)
is a dead letter with its reason, never a stop. A good one is merged into its target's record
(:mod:`pipeline.rollouts`), written, and the changelog write confirmed before faust acks the
record; a crash before that redelivers it, and merging it again changes nothing. A failure
that is not about one record (Kafka, a state write) stops the worker, exit 70, before the ack,
as :mod:`pipeline.agents` explains. A record of a group generation the worker no longer holds
(the broker gave its partition to another worker) is neither applied nor counted nor acked:
the new owner applies it (:mod:`pipeline.ownership`).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from precache.pipeline.ownership import Ownership
from precache.pipeline.rollout_store import RolloutStore
from precache.pipeline.rollouts import BadRollout, decode, merge, target_key
from precache.pipeline.side_records import confirm, dead_letter, stop_on_failure
from precache.pipeline.store import partition_scope


@dataclass
class RolloutStats:
    """``/stats``' ``rollout_events``: records that changed a target, that changed nothing
    (redelivered, older), that went to the dead-letter topic."""

    applied: int = 0
    unchanged: int = 0
    dead: int = 0


@dataclass
class Rollouts:
    """What the rollouts agent and view share."""

    topic: Any  # ``precache.rollout``
    dlq: Any
    store: RolloutStore
    confirm_timeout_s: float
    ownership: Ownership  # is a record's partition still ours (pipeline.ownership)
    stats: RolloutStats = field(default_factory=RolloutStats)


def attach(app: Any, r: Rollouts) -> None:
    async def rollouts(stream: Any) -> None:
        async for event in stream.events():
            await guarded(r, event)

    app.agent(r.topic, concurrency=1, name="rollouts")(rollouts)


async def guarded(r: Rollouts, event: Any, exit: Callable[[int], Any] = os._exit) -> None:
    await stop_on_failure(apply(r, event), "rollouts", exit)


async def apply(r: Rollouts, event: Any) -> None:
    if r.ownership.lost([event]):
        r.ownership.disown([event])
        return
    message = event.message
    try:
        rollout = decode(message.key, message.value)
    except BadRollout as exc:
        r.stats.dead += 1
        sent = await dead_letter(r.dlq, message, exc.reason, str(exc), "rollouts")
        await confirm([sent], r.confirm_timeout_s)
        return
    key = target_key(rollout.data.region, rollout.data.aggregate.uuid)
    with partition_scope(event):
        after = merge(r.store.get(key), rollout)
        if after is None:
            r.stats.unchanged += 1
            return
        r.store.put(key, after, message.partition)
    await confirm(r.store.table.take_pending(), r.confirm_timeout_s)
    r.stats.applied += 1
