"""Replays ``ComputeTaskManager.cache_images`` from Nova's conductor against a real RabbitMQ.

As in Nova: one start notification with the aggregate's hosts, then each host's result from a
pool of workers, where ``index`` is a shared counter bumped when a host finishes (so indexes
reach the wire out of order), then the end notification. A host whose RPC raised sends nothing.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from oslo_context.context import RequestContext

from precache.simulate.broker import LostNotifications, watch_deliveries
from precache.simulate.notifier import nova_context, nova_notifier
from precache.simulate.payloads import aggregate_payload, cache_progress_payload
from precache.simulate.plan import HostOutcome, SimulationPlan
from precache.simulate.settings import SimulateSettings

_START = "aggregate.cache_images.start"
_PROGRESS = "aggregate.cache_images.progress"
_END = "aggregate.cache_images.end"


@dataclass(frozen=True)
class SimulationResult:
    request_id: str
    aggregate_uuid: str
    progress_sent: int
    failed_hosts: tuple[str, ...]
    silent_hosts: tuple[str, ...]
    end_sent: bool


def simulate_operation(
    settings: SimulateSettings, plan: SimulationPlan, *, auth_token: str | None = None
) -> SimulationResult:
    """Send one whole operation and return what was sent.

    Raises :class:`~precache.errors.BrokerUnreachable` or ``BrokerRefused`` before sending,
    and :class:`~precache.errors.DeliveryError` as soon as a notification is lost (oslo's
    Notifier itself never raises); the hosts not yet sent are then not attempted.
    """
    ctxt = nova_context(
        plan.request_id, global_request_id=plan.global_request_id, auth_token=auth_token
    )
    with watch_deliveries(plan.aggregate_uuid) as lost, nova_notifier(settings) as notifier:
        api = notifier.prepare(publisher_id=f"nova-api:{settings.conductor_host}")
        api.info(ctxt, _START, aggregate_payload(plan))
        lost.raise_if_any(settings, 0)
        run = _ProgressRun(notifier, ctxt, plan, lost)
        with ThreadPoolExecutor(max_workers=plan.concurrency) as pool:
            list(pool.map(run.host_completed, range(1, plan.hosts + 1)))
        lost.raise_if_any(settings, 1 + run.sent)
        end_sent = plan.send_end and plan.stop_after is None
        if end_sent:
            api.info(ctxt, _END, aggregate_payload(plan))
            lost.raise_if_any(settings, 1 + run.sent)
    return SimulationResult(
        request_id=plan.request_id,
        aggregate_uuid=plan.aggregate_uuid,
        progress_sent=run.sent,
        failed_hosts=tuple(sorted(run.failed, key=_host_number)),
        silent_hosts=tuple(sorted(run.silent, key=_host_number)),
        end_sent=end_sent,
    )


class _ProgressRun:
    """The per-host half of the conductor, shared by the pool's threads."""

    def __init__(
        self, notifier: Any, ctxt: RequestContext, plan: SimulationPlan, lost: LostNotifications
    ) -> None:
        self._notifier = notifier
        self._lost = lost
        self._ctxt = ctxt
        self._plan = plan
        self._lock = threading.Lock()
        self.completed = 0
        self.sent = 0
        self.failed: list[str] = []
        self.silent: list[str] = []

    def host_completed(self, number: int) -> None:
        plan = self._plan
        host = f"{plan.host_prefix}{number}"
        if plan.delay_s:
            time.sleep(plan.delay_s)
        outcome = plan.outcome(number)
        if self._lost.any():  # the broker is gone: do not wait out the retries of every host
            return
        with self._lock:
            if outcome is HostOutcome.NO_REPORT:
                self.silent.append(host)
                return
            if plan.stop_after is not None and self.completed >= plan.stop_after:
                self.silent.append(host)
                return
            self.completed += 1
            index = self.completed
            if outcome is not HostOutcome.CACHED:
                self.failed.append(host)
        cached = list(plan.images) if outcome is HostOutcome.CACHED else []
        failed = [] if cached else list(plan.images)
        payload = cache_progress_payload(plan, host, index, cached, failed)
        self._notifier.info(self._ctxt, _PROGRESS, payload)
        if self._lost.any():
            return
        with self._lock:
            self.sent += 1


def _host_number(host: str) -> tuple[int, str]:
    digits = host[len(host.rstrip("0123456789")) :]
    return (int(digits) if digits else 0, host)
