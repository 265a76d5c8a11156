"""``up``, ``down`` and ``status`` of the two local brokers, each idempotent."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from precache.errors import StackError, StackTimeout
from precache.stack import kafka, rabbitmq
from precache.stack.process import stop_group, tail
from precache.stack.settings import StackSettings


@dataclass(frozen=True)
class BrokerStatus:
    name: str
    address: str
    pid: int | None
    answering: bool
    log: Path
    started_now: bool = False

    @property
    def running(self) -> bool:
        return self.pid is not None


@dataclass(frozen=True)
class _Broker:
    name: str
    address: Callable[[StackSettings], str]
    running_pid: Callable[[StackSettings], int | None]
    start: Callable[[StackSettings], int]
    answers: Callable[[StackSettings], bool]
    log_file: Callable[[StackSettings], Path]
    pid_file: Callable[[StackSettings], Path]


_BROKERS = (
    _Broker(
        "rabbitmq",
        lambda s: f"{'amqps' if s.secure else 'amqp'}://{s.host}:{s.amqp_listen_port}",
        rabbitmq.running_pid,
        rabbitmq.start,
        rabbitmq.answers,
        rabbitmq.log_file,
        rabbitmq.pid_file,
    ),
    _Broker(
        "kafka",
        lambda s: s.kafka_bootstrap,
        kafka.running_pid,
        kafka.start,
        kafka.answers,
        kafka.log_file,
        kafka.pid_file,
    ),
)


def stack_up(settings: StackSettings) -> list[BrokerStatus]:
    """Start whichever broker is not running, then wait until both answer their protocol."""
    started: dict[str, int] = {}
    try:
        for broker in _BROKERS:
            if broker.running_pid(settings) is None:
                _refuse_foreign(broker, settings)
                started[broker.name] = broker.start(settings)
        deadline = time.monotonic() + settings.start_timeout_s
        statuses = []
        for broker in _BROKERS:
            _wait_until_answering(broker, settings, deadline)
            statuses.append(_status(broker, settings, started_now=broker.name in started))
    except BaseException:
        # all or nothing: a broker this call started is not left running when another failed
        # (it would answer on its port, owned by no one, and refuse the next `up`)
        for broker in reversed(_BROKERS):
            if broker.name in started:
                stop_group(started[broker.name])
                broker.pid_file(settings).unlink(missing_ok=True)
        rabbitmq.stop_epmd_if_idle()
        raise
    return statuses


def _wait_until_answering(broker: _Broker, settings: StackSettings, deadline: float) -> None:
    while not broker.answers(settings):
        if broker.running_pid(settings) is None:
            raise StackTimeout(
                f"{broker.name} exited while starting; last lines of {broker.log_file(settings)}:\n"
                + tail(broker.log_file(settings))
            )
        if time.monotonic() > deadline:
            raise StackTimeout(
                f"{broker.name} did not answer on {broker.address(settings)} within "
                f"{settings.start_timeout_s:.0f}s; last lines of {broker.log_file(settings)}:\n"
                + tail(broker.log_file(settings))
            )
        time.sleep(0.5)


def stack_down(settings: StackSettings) -> list[str]:
    """Stop the brokers that ``up`` started (found by their pid files); returns their names."""
    stopped = []
    for broker in reversed(_BROKERS):
        pid = broker.running_pid(settings)
        if pid is not None:
            stop_group(pid)
            stopped.append(broker.name)
        broker.pid_file(settings).unlink(missing_ok=True)
    rabbitmq.stop_epmd_if_idle()
    return stopped


def stop_broker(settings: StackSettings, name: str) -> bool:
    """Stop one broker that ``up`` started (fault tests restart brokers mid-stream)."""
    broker = _broker(name)
    pid = broker.running_pid(settings)
    if pid is not None:
        stop_group(pid)
    broker.pid_file(settings).unlink(missing_ok=True)
    return pid is not None


def start_broker(settings: StackSettings, name: str) -> BrokerStatus:
    """Start one broker (if not running) and wait until it answers."""
    broker = _broker(name)
    started = broker.running_pid(settings) is None
    if started:
        _refuse_foreign(broker, settings)
        broker.start(settings)
    _wait_until_answering(broker, settings, time.monotonic() + settings.start_timeout_s)
    return _status(broker, settings, started_now=started)


def _refuse_foreign(broker: _Broker, settings: StackSettings) -> None:
    """Never mistake someone else's broker on our port for ours."""
    if broker.answers(settings):
        raise StackError(
            f"{broker.address(settings)} already answers but was not started by precache "
            f"(no live pid in {broker.pid_file(settings)}): stop it or choose other ports"
        )


def _broker(name: str) -> _Broker:
    for broker in _BROKERS:
        if broker.name == name:
            return broker
    raise StackError(f"no broker called {name!r}; known: {[b.name for b in _BROKERS]}")


def stack_status(settings: StackSettings) -> list[BrokerStatus]:
    return [_status(broker, settings) for broker in _BROKERS]


def _status(broker: _Broker, settings: StackSettings, *, started_now: bool = False) -> BrokerStatus:
    pid = broker.running_pid(settings)
    return BrokerStatus(
        name=broker.name,
        address=broker.address(settings),
        pid=pid,
        answering=pid is not None and broker.answers(settings),
        log=broker.log_file(settings),
        started_now=started_now,
    )
