"""The demo: Nova's announcement example, end to end on the local stack.

stack up -> ``precache bridge`` and ``precache worker`` in the background -> ``precache watch``
in the foreground -> the simulated operation (95 hosts of ``my-application``, guaranine2-9
failing) -> the watcher's summary; then it stops what it started and returns the watcher's
exit status (1 here: eight hosts fail on purpose).
"""

import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

from kombu.connection import Connection
from pydantic import SecretStr

from bridge.consumer import declared_queues
from bridge.settings import BridgeSettings
from precache.demo.processes import Component, component_env, run_foreground, start_component
from precache.simulate import SimulateSettings, SimulationPlan, parse_host_ranges
from precache.stack import StackSettings, stack_down, stack_status, stack_up


@dataclass(frozen=True)
class DemoOptions:
    hosts: int = 95
    failing: str = "2-9"
    delay_s: float = 0.8
    concurrency: int = 8
    web_port: int = 6066
    keep_stack: bool = False
    timeout_s: float = 300.0


def run_demo(stack: StackSettings, options: DemoOptions) -> int:
    was_up = all(s.answering for s in stack_status(stack))
    for status in stack_up(stack):
        _say(f"{status.name:<8} {status.address:<24} pid {status.pid}, log {status.log}")
    plan = SimulationPlan(
        hosts=options.hosts,
        failing=parse_host_ranges(options.failing),
        delay_s=options.delay_s,
        concurrency=options.concurrency,
        aggregate_uuid=str(uuid.uuid4()),
    )
    env = component_env(
        {
            "PRECACHE_AMQP_URL": stack.amqp_url,
            "PRECACHE_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "PRECACHE_REGION": "local",
            "PRECACHE_WEB_PORT": str(options.web_port),
            "PRECACHE_DATA_DIR": str(stack.state_dir / "demo" / "worker"),
        }
    )
    _declare_bridge_queue(stack)
    log_dir = stack.state_dir / "demo"
    components = [
        start_component("bridge", ["bridge"], env=env, log_dir=log_dir),
        start_component("worker", ["worker"], env=env, log_dir=log_dir),
    ]
    try:
        for component in components:
            _say(
                f"{component.name:<8} precache {component.argv[3]}  pid {component.process.pid}, "
                f"log {component.log}"
            )
        _say(f"worker   HTTP view http://127.0.0.1:{options.web_port}/operations")
        return _watch_while_simulating(stack, plan, env, options, components)
    finally:
        for component in components:
            component.stop()
        if not was_up and not options.keep_stack:
            stack_down(stack)
            _say("stopped the local stack (it was not running before the demo)")
        _explain(plan, options)


def _declare_bridge_queue(stack: StackSettings) -> None:
    """Declare the bridge's queue now, so nothing sent before the bridge connects is lost."""
    settings = BridgeSettings(amqp_url=SecretStr(stack.amqp_url))
    with Connection(stack.amqp_url) as conn:
        for queue in declared_queues(settings):
            queue(conn.default_channel).declare()


def _watch_while_simulating(
    stack: StackSettings,
    plan: SimulationPlan,
    env: dict[str, str],
    options: DemoOptions,
    components: list[Component],
) -> int:
    from precache.simulate.conductor import simulate_operation  # oslo.messaging loads slowly

    def simulate() -> None:
        _wait_for_http(f"http://127.0.0.1:{options.web_port}/operations", components)
        settings = SimulateSettings(amqp_url=SecretStr(stack.amqp_url))
        simulate_operation(settings, plan)

    _say(
        f"simulate {plan.hosts} hosts of '{plan.aggregate_name}' (uuid {plan.aggregate_uuid}), "
        f"hosts {options.failing} failing, request {plan.request_id}"
    )
    thread = threading.Thread(target=simulate, name="simulate", daemon=True)
    thread.start()
    args = ["watch", "--aggregate", plan.aggregate_uuid, "--timeout", str(options.timeout_s)]
    status = run_foreground(args, env=env)
    thread.join(timeout=5)
    return status


def _wait_for_http(url: str, components: list[Component], timeout_s: float = 120) -> None:
    """The worker answers HTTP once faust has started; the watcher has had time to start too."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(c.process.poll() is not None for c in components):
            return
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # the server answered: faust's web view is up
        except OSError:
            time.sleep(0.5)


def _explain(plan: SimulationPlan, options: DemoOptions) -> None:
    _say(
        "\nEach piece by hand (after `precache stack up`), one per terminal:\n"
        "  precache bridge                      # RabbitMQ -> Kafka nova.notifications\n"
        f"  precache worker --web-port {options.web_port}    # derived precache.* topics\n"
        "  precache watch --aggregate my-application\n"
        f"  precache simulate --hosts {options.hosts} --failing {options.failing} "
        f"--delay {options.delay_s}"
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
