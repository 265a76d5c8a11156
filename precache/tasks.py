"""Stopping asyncio tasks for sure, on Python versions whose ``wait_for`` can eat a cancel.

On Python 3.11 ``asyncio.wait_for`` returns the inner result when the cancel arrives in the
same loop turn as that result (CPython gh-86296), so a loop around it, such as the bridge's
Kafka check, can go on after one ``cancel()``: a shutdown that cancels once and gathers then
waits for ever (seen in CI: a bridge that never stopped, its producer left unclosed). Cancel
again until the task ends, or give up after ``timeout_s`` and say which did not end.
"""

import asyncio
import time
from collections.abc import Iterable
from typing import Any

CANCEL_AGAIN_S = 0.2


async def cancel_and_wait(
    tasks: Iterable["asyncio.Task[Any]"], timeout_s: float
) -> set["asyncio.Task[Any]"]:
    """Cancel ``tasks`` until each is done; returns those still running after ``timeout_s``."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    deadline = time.monotonic() + timeout_s
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(CANCEL_AGAIN_S, left))
    for task in tasks:  # retrieve results: no "exception was never retrieved" at collection
        if task.done() and not task.cancelled():
            task.exception()
    return pending
