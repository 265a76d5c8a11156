"""The example alert rules and the compose Prometheus configuration, checked by Prometheus's own
promtool (Debian's ``prometheus`` package, installed by :mod:`tests.support.debian` when
missing; its service is kept from starting)."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.debian import PACKAGES, ensure
from tests.support.observability import (
    ALERTS,
    PROMETHEUS,
    ROOT,
    alert_exprs,
    grafana_exprs,
    load_yaml,
)

pytestmark = pytest.mark.integration

PROMTOOL = PACKAGES["prometheus"]
ALERT_TESTS = ROOT / "tests" / "fixtures" / "prometheus" / "alerts-test.yml"


@pytest.fixture(scope="module")
def promtool() -> Path:
    ensure("prometheus")
    return PROMTOOL


def run(promtool: Path, *args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, check=False, cwd=cwd
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_promtool_accepts_the_alert_rules(promtool: Path) -> None:
    assert "SUCCESS: 3 rules found" in run(promtool, "check", "rules", str(ALERTS))


def test_promtool_accepts_the_compose_prometheus_config(promtool: Path) -> None:
    out = run(promtool, "check", "config", str(PROMETHEUS))
    assert "is valid prometheus config file syntax" in out


def test_each_alert_fires_on_the_series_it_is_meant_for(promtool: Path, tmp_path: Path) -> None:
    shutil.copy(ALERTS, tmp_path / "alerts.yml")  # the test file names it relatively
    shutil.copy(ALERT_TESTS, tmp_path / "alerts-test.yml")
    assert "SUCCESS" in run(promtool, "test", "rules", "alerts-test.yml", cwd=tmp_path)


def test_every_alert_has_a_case_where_it_fires() -> None:
    cases = load_yaml(ALERT_TESTS)["tests"]
    firing = {
        case["alertname"]
        for test in cases
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert firing == set(alert_exprs())


def test_every_grafana_query_is_valid_promql(promtool: Path, tmp_path: Path) -> None:
    """promtool has no query checker: the dashboard's queries go in as recording rules, whose
    expressions `check rules` parses (Grafana's $__rate_interval stands for a duration)."""
    exprs = [e.replace("$__rate_interval", "5m") for e in grafana_exprs()]
    rules = [{"record": f"precache:panel_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in run(promtool, "check", "rules", str(path))
