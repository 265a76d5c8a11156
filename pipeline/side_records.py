"""What the agents beside the operations agent (inventory, rollouts) share: a dead letter with
its reason and where it came from, waiting for Kafka to confirm sends and changelog writes
before the record is acked, and stopping the worker on a failure that is not about a record."""

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

from precache.pipeline.produce import produce

log = structlog.get_logger(__name__)

T = TypeVar("T")

FATAL_EXIT = 70  # as pipeline.agents: the worker stopped itself, the record is redelivered


async def stop_on_failure(
    work: Awaitable[T], agent: str, exit: Callable[[int], Any] = os._exit
) -> T:
    """Run ``work``; a failure that is not about one record (Kafka, a state write) ends the
    process before faust acks the record, as :mod:`pipeline.agents` explains."""
    try:
        return await work
    except Exception as exc:
        log.critical(f"{agent}: worker-level failure, exiting before the ack", error=repr(exc))
        sys.stdout.flush()
        sys.stderr.flush()
        exit(FATAL_EXIT)
        raise


async def dead_letter(dlq: Any, message: Any, reason: str, error: str, agent: str) -> Any:
    """Send ``message``'s raw key and value to ``dlq`` with the reason in its headers; the
    send's future (confirm it with the batch)."""
    headers = [
        ("reason", reason.encode()),
        ("error", error[:1000].encode()),
        ("source_topic", str(message.topic).encode()),
        ("source_partition", str(message.partition).encode()),
        ("source_offset", str(message.offset).encode()),
    ]
    log.warning(f"{agent}: dead letter", reason=reason, error=error[:200])
    return await produce(dlq, message.key, message.value or b"", headers)


async def confirm(pending: list[Any], timeout_s: float) -> None:
    """Until Kafka has every one of ``pending``; a timeout or a failure raises (the caller
    stops the worker before the ack)."""
    if pending:
        await asyncio.wait_for(asyncio.gather(*pending), timeout_s)
