"""docker-compose.yml cannot run here (no Docker engine), so check that it agrees with the code."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from precache.bridge.settings import BridgeSettings
from precache.config import ENV_PREFIX, KafkaSettings
from precache.pipeline.settings import WorkerSettings
from precache.rollout.settings import RolloutSettings
from precache.simulate import SimulateSettings
from precache.stack import StackSettings
from precache.watch import WatchSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def test_brokers_publish_the_ports_the_local_stack_uses(compose: dict[str, Any]) -> None:
    stack = StackSettings.model_construct()  # the defaults, whatever PRECACHE_STACK_* says here
    services = compose["services"]
    assert f"{stack.amqp_port}:5672" in services["rabbitmq"]["ports"]
    assert f"{stack.kafka_port}:9092" in services["kafka"]["ports"]
    assert services["kafka"]["image"] == f"apache/kafka:{stack.kafka_version}"
    assert "broker,controller" in _env(services["kafka"])["KAFKA_PROCESS_ROLES"]


def test_precache_services_point_at_the_compose_brokers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    kafka_listener = _env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    for name in ("bridge-1", "bridge-2", "worker", "simulate", "watch"):
        env = _env(services[name])
        bootstrap = env[f"{ENV_PREFIX}KAFKA_BOOTSTRAP"]
        assert f"PLAINTEXT://{bootstrap}" in kafka_listener, name
        assert "@rabbitmq:5672/" in env[f"{ENV_PREFIX}AMQP_URL"], name


def test_only_the_simulator_image_has_the_developer_tools(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG EXTRAS=rocksdb\n" in dockerfile
    assert 'RUN scripts/install-service /opt/precache "${EXTRAS}"' in dockerfile
    services = compose["services"]
    for name in ("bridge-1", "bridge-2", "worker", "watch"):
        assert services[name]["build"] == ".", name  # the Dockerfile's default: no tools
    simulate = services["simulate"]["build"]
    assert simulate["context"] == "."
    assert "tools" in simulate["args"]["EXTRAS"].split(",")


def test_every_precache_env_var_is_a_known_setting(compose: dict[str, Any]) -> None:
    known = {f"{ENV_PREFIX}{field}".upper() for field in KafkaSettings.model_fields}
    for settings_cls in (
        BridgeSettings,
        WorkerSettings,
        SimulateSettings,
        WatchSettings,
        RolloutSettings,
    ):
        known |= {f"{ENV_PREFIX}{field}".upper() for field in settings_cls.model_fields}
    known.add(f"{ENV_PREFIX}REGION")  # simulate's --region reads it too
    for name, service in compose["services"].items():
        for var in _env(service):
            if var.startswith(ENV_PREFIX):
                assert var in known, f"{name}: {var} is not a setting"


def test_keep_warm_runs_the_policy_against_the_worker(compose: dict[str, Any]) -> None:
    service = compose["services"]["keep-warm"]
    assert service["command"][0] == "keep-warm"
    policy = service["command"][1]
    assert any(v.endswith(f":{policy}:ro") for v in service["volumes"])
    env = _env(service)
    assert env[f"{ENV_PREFIX}WORKER_URL"] == "http://worker:6066"
    assert env[f"{ENV_PREFIX}WORKER_URL"].endswith(
        _env(compose["services"]["worker"])["PRECACHE_WEB_PORT"]
    )
    clouds = env["OS_CLIENT_CONFIG_FILE"]
    assert any(v.endswith(f":{clouds}:ro") for v in service["volumes"])


def _settings(service: dict[str, Any], cls: type[Any]) -> Any:
    """The service's settings as its environment makes them (env vars only, no defaults file)."""
    env = _env(service)
    return cls(
        **{k[len(ENV_PREFIX) :].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    )


def test_two_bridges_on_one_queue_one_active_the_other_standby(compose: dict[str, Any]) -> None:
    bridges = [s for s in compose["services"].values() if s.get("command") == ["bridge"]]
    assert len(bridges) == 2
    settings = [_settings(s, BridgeSettings) for s in bridges]
    assert all(s.single_active_consumer for s in settings)
    assert len({(s.region, s.queue_name, s.exchange) for s in settings}) == 1  # one queue
    assert len({s.source for s in settings}) == 2  # told apart in Kafka's 'source' header


def test_healthchecks_probe_healthz_on_the_port_each_service_serves(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    ports = {
        name: _settings(services[name], BridgeSettings).metrics_port
        for name in services
        if services[name].get("command") == ["bridge"]
    }
    ports["worker"] = _settings(services["worker"], WorkerSettings).web_port
    for name, port in ports.items():
        assert port, name
        probe = services[name]["healthcheck"]["test"]
        assert f"http://127.0.0.1:{port}/healthz" in probe[-1], name
