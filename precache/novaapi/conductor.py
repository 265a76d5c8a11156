"""What Nova's conductor does after the API accepted a pre-cache request: here, the simulation.

Each accepted request runs :func:`precache.simulate.simulate_operation` in a thread, with a
context whose ``request_id`` is the response's and ``global_request_id`` the client's, so the
notifications carry the ids the client can follow.
"""

import asyncio

import structlog

from precache.simulate.plan import SimulationPlan
from precache.simulate.settings import SimulateSettings

log = structlog.get_logger(__name__)


class Conductor:
    def __init__(self, settings: SimulateSettings) -> None:
        self._settings = settings
        self._running: set[asyncio.Task[None]] = set()

    def cache_images(self, plan: SimulationPlan) -> None:
        """Starts the operation and returns at once: the API answers 202 before it runs."""
        task = asyncio.get_running_loop().create_task(self._run(plan))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, plan: SimulationPlan) -> None:
        from precache.simulate.conductor import simulate_operation  # oslo.messaging: slow import

        try:
            result = await asyncio.to_thread(simulate_operation, self._settings, plan)
        except Exception as exc:  # RabbitMQ down, ...: the API already answered 202, as Nova's
            log.error("pre-cache operation not sent", request_id=plan.request_id, error=repr(exc))
            return
        log.info(
            "pre-cache operation sent",
            request_id=plan.request_id,
            global_request_id=plan.global_request_id,
            aggregate=plan.aggregate_name,
            images=list(plan.images),
            hosts=plan.hosts,
            failed=len(result.failed_hosts),
        )
