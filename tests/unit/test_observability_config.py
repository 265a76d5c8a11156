"""docker-compose.yml's Prometheus and Grafana cannot run here (no Docker engine): check that
their configuration in deploy/ agrees with the compose services and with the code's metrics.
(A real scrape of a real bridge and worker: tests/integration/test_worker_metrics.py;
promtool on the rules and config: tests/integration/test_promtool.py.)"""

from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from precache.bridge.metrics import BridgeMetrics
from precache.pipeline.inventory import Policy
from precache.pipeline.inventory_agent import InventoryStats
from precache.pipeline.inventory_metrics import InventoryMetrics
from precache.pipeline.inventory_store import InventoryStore
from precache.pipeline.metrics import WorkerMetrics
from tests.support.observability import (
    ALERTS,
    DEPLOY,
    GRAFANA_DASHBOARD,
    PROMETHEUS,
    ROOT,
    alert_exprs,
    docs_yaml_block,
    grafana_exprs,
    load_yaml,
    metric_names,
)

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = load_yaml(ROOT / "docker-compose.yml")["services"]
    return services


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to the repository) of a service's volumes."""
    out = {}
    for volume in service.get("volumes", []):
        host, container, *_ = volume.split(":")
        out[container] = host.removeprefix("./")
    return out


def container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).rsplit(":", 1)[-1]) for p in service.get("ports", [])}


def defined_names() -> set[str]:
    """Every name a query can use of what the code's registries declare (a labelled counter
    has no sample before its first count, so the names come from the family's type)."""
    worker = WorkerMetrics()
    store = InventoryStore({}, 1_000)
    store.recovered()
    inventory = InventoryMetrics(store, InventoryStats(), Policy(), set)
    worker.registry.register(inventory)  # as pipeline.metrics_view does
    texts = [worker.render([], 0), generate_latest(BridgeMetrics().registry)]
    names = set()
    for text in texts:
        for family in text_string_to_metric_families(text.decode()):
            names.add(family.name)
            names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ())}
    return names


def test_prometheus_scrapes_each_service_where_it_listens(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    config_dir = mounts(prometheus)["/etc/prometheus"]
    assert ROOT / config_dir / "prometheus.yml" == PROMETHEUS
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    config = load_yaml(PROMETHEUS)
    assert [ROOT / config_dir / f for f in config["rule_files"]] == [ALERTS]
    targets = {
        job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
        for job in config["scrape_configs"]
    }
    bridges = {
        f"{name}:{service['environment']['PRECACHE_METRICS_PORT']}"
        for name, service in services.items()
        if service.get("command") == ["bridge"]
    }
    assert len(bridges) >= 1
    assert set(targets["precache-bridge"]) == bridges  # every bridge, the standby too
    worker_env = services["worker"]["environment"]
    assert targets["precache-worker"] == [f"worker:{worker_env['PRECACHE_WEB_PORT']}"]
    assert worker_env["PRECACHE_WEB_BIND"] == "0.0.0.0"  # reachable from the prometheus container
    assert 9090 in container_ports(prometheus)


def test_grafana_reads_the_compose_prometheus_and_the_mounted_dashboard(
    services: dict[str, Any],
) -> None:
    grafana = services["grafana"]
    volumes = mounts(grafana)
    provisioning = ROOT / volumes["/etc/grafana/provisioning"]
    [source] = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090"
    [provider] = load_yaml(provisioning / "dashboards" / "precache.yml")["providers"]
    folder = provider["options"]["path"]
    assert ROOT / volumes[folder] / "precache.json" == GRAFANA_DASHBOARD
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{folder}/precache.json"
    dashboard = load_yaml(GRAFANA_DASHBOARD)  # JSON is YAML
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
            assert panel["targets"], panel["title"]


def test_every_metric_the_dashboard_and_the_alerts_use_is_defined() -> None:
    used = metric_names(grafana_exprs()) | metric_names(list(alert_exprs().values()))
    assert used <= defined_names(), used - defined_names()
    assert {n for n in used if n.startswith("precache_worker_")}, "no worker panel?"
    assert {n for n in used if n.startswith("precache_bridge_")}, "no bridge panel?"


def test_the_docs_show_the_alert_rules_file_as_it_is() -> None:
    block = docs_yaml_block(ROOT / "docs" / "metrics.md", "## Example alert rules")
    assert block == ALERTS.read_text()
    assert set(alert_exprs()) == {
        "PrecacheOperationStalled",
        "PrecacheWorkerLagging",
        "PrecacheImagesExpiring",
    }
    assert (DEPLOY / "prometheus" / "alerts.yml").exists()
