"""Operations published as Nova's conductor does (start, per-host progress from a pool of
threads, end) through oslo's Notifier, in the background, at a set rate, recording what
RabbitMQ accepted: the traffic of the fault suite."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from precache.simulate.payloads import aggregate_payload, cache_progress_payload
from precache.simulate.plan import HostOutcome, SimulationPlan
from tests.support.publishers import Accepted, context, recording_notifier

REGION = "region-a"


def expected(plan: SimulationPlan) -> dict[str, Any]:
    """The completed event's counts for a plan that sends its ``.end``."""
    numbers = range(1, plan.hosts + 1)
    failing = {n for n in numbers if plan.outcome(n) is not HostOutcome.CACHED}
    silent = {n for n in numbers if plan.outcome(n) is HostOutcome.NO_REPORT}
    failed = len(failing)
    outcome = "succeeded" if not failed else "failed" if failed >= plan.hosts else "partial"
    return {
        "hosts_total": plan.hosts,
        "hosts_reported": plan.hosts - len(silent),
        "hosts_failed": failed,
        "failed_hosts": {f"{plan.host_prefix}{n}" for n in failing},
        "outcome": outcome,
    }


def expected_from_bus(plan: SimulationPlan, accepted: Accepted) -> dict[str, Any] | None:
    """The completed event's counts given what RabbitMQ really accepted of ``plan`` (during a
    RabbitMQ restart oslo's Notifier logs and drops what it could not publish); None when
    the rules cannot complete it (no list, or hosts missing and no ``.end``)."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for message in accepted.messages:
        data = message["payload"]["nova_object.data"]
        if data["uuid"] == plan.aggregate_uuid:
            kinds.setdefault(message["event_type"].rsplit(".", 1)[-1], []).append(data)
    reported = {d["host"]: d["images_failed"] for d in kinds.get("progress", [])}
    listed = set(plan.host_names())
    if not (kinds.get("start") or kinds.get("end")):
        return None
    if not kinds.get("end") and set(reported) != listed:
        return None
    failing = {h for h, images in reported.items() if images} | (listed - set(reported))
    failed = len(failing)
    outcome = "succeeded" if not failed else "failed" if failed >= plan.hosts else "partial"
    return {
        "hosts_total": plan.hosts,
        "hosts_reported": len(reported),
        "hosts_failed": failed,
        "failed_hosts": failing,
        "outcome": outcome,
    }


def operation_id(plan: SimulationPlan) -> str:
    return f"{REGION}/{plan.aggregate_uuid}/{plan.request_id}"


@dataclass
class Traffic:
    """Sends ``plans`` at once (each from its own conductor thread and host pool) at about
    ``rate`` notifications per second in all; ``sent`` counts the confirmed ones."""

    amqp_url: str
    exchange: str
    plans: list[SimulationPlan]
    rate: float = 0  # 0: as fast as the pool goes
    durable: bool = True
    accepted: Accepted = field(default_factory=Accepted)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def total(self) -> int:
        return sum(expected(p)["hosts_reported"] + 2 for p in self.plans)

    @property
    def sent(self) -> int:
        return len(self.accepted)

    def start(self) -> "Traffic":
        self._thread.start()
        return self

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"traffic not sent after {timeout}s"
        assert not self.errors, self.errors[:3]

    def _run(self) -> None:
        with recording_notifier(self.amqp_url, self.exchange, self.accepted, self.durable) as n:
            conductors = [
                threading.Thread(target=self._operation, args=(n, plan)) for plan in self.plans
            ]
            for t in conductors:
                t.start()
            for t in conductors:
                t.join()

    def _operation(self, notifier: Any, plan: SimulationPlan) -> None:
        """One conductor: its own pool of 8 host threads, as Nova's cache_images has."""
        try:
            ctxt = context(plan.request_id)
            api = notifier.prepare(publisher_id="nova-api:faults")
            api.info(ctxt, "aggregate.cache_images.start", aggregate_payload(plan))
            counter = _Counter()
            pause = len(self.plans) * 8 / self.rate if self.rate else 0
            hosts = range(1, plan.hosts + 1)
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda n: self._host(notifier, ctxt, plan, n, counter, pause), hosts))
            api.info(ctxt, "aggregate.cache_images.end", aggregate_payload(plan))
        except Exception as exc:  # reported by wait()
            self.errors.append(repr(exc))

    def _host(
        self,
        notifier: Any,
        ctxt: Any,
        plan: SimulationPlan,
        n: int,
        counter: "_Counter",
        pause: float,
    ) -> None:
        if pause:
            time.sleep(pause)
        outcome = plan.outcome(n)
        if outcome is HostOutcome.NO_REPORT:
            return
        cached = list(plan.images) if outcome is HostOutcome.CACHED else []
        failed = [] if cached else list(plan.images)
        payload = cache_progress_payload(
            plan, f"{plan.host_prefix}{n}", counter.next(), cached, failed
        )
        notifier.info(ctxt, "aggregate.cache_images.progress", payload)


class _Counter:
    """Nova's shared index: bumped as hosts finish, so it reaches the wire out of order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._n = 0

    def next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n
