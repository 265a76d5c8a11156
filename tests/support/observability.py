"""What the observability configuration in deploy/ uses: shared by the wiring checks."""

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
GRAFANA_DASHBOARD = DEPLOY / "grafana" / "dashboards" / "precache.json"
METRIC = re.compile(r"\b(precache_[a-z0-9_]+)\b")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def grafana_exprs() -> list[str]:
    """Every PromQL expression of the Grafana dashboard's panels."""
    dashboard = json.loads(GRAFANA_DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def alert_exprs() -> dict[str, str]:
    rules = load_yaml(ALERTS)["groups"][0]["rules"]
    return {rule["alert"]: rule["expr"] for rule in rules}


def metric_names(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in METRIC.findall(expr)}


def docs_yaml_block(page: Path, after: str) -> str:
    """The first ```yaml block of ``page`` after the line ``after``."""
    text = page.read_text()
    rest = text[text.index(after) :]
    start = rest.index("```yaml\n") + len("```yaml\n")
    return rest[start : rest.index("```\n", start)]
