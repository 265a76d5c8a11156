"""cancel_and_wait: a task that eats a cancel (Python 3.11's wait_for race) still ends."""

import asyncio

from precache.tasks import cancel_and_wait


async def _eats_one_cancel(cancels_seen: list[int]) -> None:
    """As a loop around 3.11's wait_for whose inner call finished as the cancel came."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancels_seen.append(1)
            if len(cancels_seen) == 1:
                continue  # the first cancel is lost, as in the race
            raise


async def test_a_task_that_eats_the_first_cancel_is_cancelled_again() -> None:
    seen: list[int] = []
    task = asyncio.create_task(_eats_one_cancel(seen))
    await asyncio.sleep(0)
    stuck = await cancel_and_wait([task], timeout_s=5.0)
    assert stuck == set()
    assert task.cancelled()
    assert len(seen) == 2


async def test_one_cancel_and_gather_would_have_waited() -> None:
    """The old shutdown (cancel once, gather) on the same task does not end."""
    seen: list[int] = []
    task = asyncio.create_task(_eats_one_cancel(seen))
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=0.5)
    assert done == set()
    assert await cancel_and_wait([task], timeout_s=5.0) == set()


async def test_a_task_that_never_ends_is_reported_after_the_timeout() -> None:
    release = asyncio.Event()

    async def ignores_cancels() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(ignores_cancels())
    await asyncio.sleep(0)
    stuck = await cancel_and_wait([task], timeout_s=0.3)
    assert stuck == {task}
    release.set()
    task.cancel()
    await asyncio.wait([task], timeout=1)
    assert task.done()


async def test_finished_tasks_and_their_errors_are_collected_quietly() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    await asyncio.sleep(0)
    assert await cancel_and_wait([failed], timeout_s=1.0) == set()
    assert isinstance(failed.exception(), RuntimeError)
