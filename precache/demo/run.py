"""The demo: Nova's announcement example, end to end on the local stack, the operator's way.

stack up -> ``precache bridge``, ``precache worker`` and the Nova API stand-in
(``precache nova-api``: 95 hosts in ``my-application``, guaranine2-9 failing) in the background
-> ``precache cache my-application c3b84ecf-...`` in the foreground, through openstacksdk and a
``clouds.yaml`` pointing at the stand-in -> its summary; then it stops what it started and
returns the command's exit status (1 here: eight hosts fail on purpose).
"""

import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml
from kombu.connection import Connection
from pydantic import SecretStr

from precache.amqp_connection import kombu_options
from precache.bridge.settings import BridgeSettings
from precache.bridge.topology import declared_queues
from precache.demo.processes import (
    Component,
    check_alive,
    component_env,
    run_foreground,
    start_component,
)
from precache.novaapi.config import StandInAggregate, StandInConfig
from precache.simulate.plan import DEMO_IMAGE
from precache.stack import StackSettings, stack_down, stack_status, stack_up
from precache.stack.clients import amqp_connection, amqp_url, client_env

CLOUD = "precache-demo"
REGION = "local"


@dataclass(frozen=True)
class DemoOptions:
    hosts: int = 95
    failing: str = "2-9"
    delay_s: float = 0.8
    concurrency: int = 8
    web_port: int = 6066
    nova_port: int | None = None  # default: a free port
    keep_stack: bool = False
    timeout_s: float = 300.0
    stay: bool = False  # keep bridge, worker (and its dashboard) and Nova up until Ctrl-C


def run_demo(stack: StackSettings, options: DemoOptions) -> int:
    was_up = all(s.answering for s in stack_status(stack))
    for status in stack_up(stack):
        _say(f"{status.name:<8} {status.address:<24} pid {status.pid}, log {status.log}")
    demo_dir = stack.state_dir / "demo"
    nova_url = f"http://127.0.0.1:{options.nova_port or _free_port()}"
    aggregate = StandInAggregate(
        hosts=options.hosts,
        failing=options.failing,
        delay_s=options.delay_s,
        concurrency=options.concurrency,
        uuid=str(uuid.uuid4()),
    )
    nova_config = _write_nova_config(demo_dir, aggregate)
    clouds = _write_clouds(demo_dir, nova_url)
    # the components reach the stack as `precache stack env` says (secure or not)
    stack_env = client_env(stack)
    env = component_env(
        {
            **{k: v for k, v in stack_env.items() if v is not None},
            "PRECACHE_REGION": REGION,
            "PRECACHE_WEB_PORT": str(options.web_port),
            "PRECACHE_DATA_DIR": str(demo_dir / "worker"),
        }
    )
    for name in (k for k, v in stack_env.items() if v is None):
        env.pop(name, None)
    _declare_bridge_queue(stack)
    nova_args = ["nova-api", "--config", str(nova_config), "--port", nova_url.rsplit(":", 1)[1]]
    components = [
        start_component("bridge", ["bridge"], env=env, log_dir=demo_dir),
        start_component("worker", ["worker"], env=env, log_dir=demo_dir),
        start_component("nova-api", nova_args, env=env, log_dir=demo_dir),
    ]
    try:
        for component in components:
            _say(
                f"{component.name:<8} precache {component.argv[3]}  pid {component.process.pid}, "
                f"log {component.log}"
            )
        _say(f"worker   dashboard http://127.0.0.1:{options.web_port}/ (JSON: /operations)")
        _say(f"nova-api {nova_url}/v2.1 (cloud '{CLOUD}' in {clouds})")
        _wait_for_http(f"http://127.0.0.1:{options.web_port}/operations", components)
        _wait_for_http(f"{nova_url}/", components)
        check_alive(components)
        exit_status = _cache(env, clouds, options, components)
        if options.stay:
            _stay(options, components)
        return exit_status
    finally:
        for component in components:
            component.stop()
        if not was_up and not options.keep_stack:
            stack_down(stack)
            _say("stopped the local stack (it was not running before the demo)")
        _explain(options, clouds)


def _cache(
    env: dict[str, str], clouds: Path, options: DemoOptions, components: list[Component]
) -> int:
    """The operator's command, with openstacksdk configured by the demo's clouds.yaml only."""
    cache_env = {k: v for k, v in env.items() if not k.startswith("OS_")}
    cache_env.update({"OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLOUD": CLOUD})
    args = ["cache", "my-application", DEMO_IMAGE, "--timeout", str(options.timeout_s)]
    _say(f"precache {' '.join(args)}")
    return run_foreground(args, env=cache_env, background=components)


def _stay(options: DemoOptions, components: list[Component]) -> None:
    """Keep the components up after the operation, for a look at the dashboard."""
    _say(
        f"dashboard http://127.0.0.1:{options.web_port}/ stays up with the bridge, the worker "
        "and the Nova stand-in: Ctrl-C to stop"
    )
    try:
        while True:
            check_alive(components)
            time.sleep(1)
    except KeyboardInterrupt:
        return


def _write_nova_config(demo_dir: Path, aggregate: StandInAggregate) -> Path:
    demo_dir.mkdir(parents=True, exist_ok=True)
    path = demo_dir / "nova-api.json"
    config = StandInConfig(aggregates=[aggregate])
    path.write_text(json.dumps(config.model_dump(), indent=2))
    return path


def _write_clouds(demo_dir: Path, nova_url: str) -> Path:
    """A noauth Nova as openstacksdk reaches one: a noauth2 token and endpoint overrides."""
    cloud = {
        "auth_type": "admin_token",
        "auth": {"token": "admin:admin", "endpoint": f"{nova_url}/v2.1"},
        "compute_endpoint_override": f"{nova_url}/v2.1",
        "image_endpoint_override": f"{nova_url}/image",
        "region_name": REGION,
    }
    path = demo_dir / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {CLOUD: cloud}}, sort_keys=False))
    os.chmod(path, 0o600)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _declare_bridge_queue(stack: StackSettings) -> None:
    """Declare the bridge's queue now, so nothing sent before the bridge connects is lost."""
    settings = BridgeSettings(amqp_url=SecretStr(amqp_url(stack)))
    with Connection(**kombu_options(amqp_connection(stack))) as conn:
        for queue in declared_queues(settings):
            queue(conn.default_channel).declare()


def _wait_for_http(url: str, components: list[Component], timeout_s: float = 120) -> None:
    """The worker answers HTTP once faust has started (and created the derived topics)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(c.process.poll() is not None for c in components):
            return
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # the server answered
        except OSError:
            time.sleep(0.5)


def _explain(options: DemoOptions, clouds: Path) -> None:
    _say(
        "\nEach piece by hand (after `precache stack up`), one per terminal:\n"
        "  precache bridge                      # RabbitMQ -> Kafka nova.notifications\n"
        f"  precache worker --web-port {options.web_port}    # derived precache.* topics\n"
        "  precache nova-api                    # Nova's API stand-in on :8774\n"
        f"  OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD={CLOUD} \\\n"
        f"    precache cache my-application {DEMO_IMAGE}\n"
        "(the clouds.yaml above points at this run's port; see docs/cache.md)"
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
