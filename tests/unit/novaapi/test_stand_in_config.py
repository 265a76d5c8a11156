"""The stand-in's configuration: the announcement by default, a JSON file otherwise, one line
(exit 3) for a file it cannot use."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from precache.cli import app
from precache.errors import ConfigError
from precache.novaapi.config import load_config
from precache.simulate.plan import DEMO_IMAGE


def test_default_is_the_announcement() -> None:
    config = load_config(None)
    [aggregate] = config.aggregates
    assert (aggregate.id, aggregate.name, aggregate.hosts) == (2, "my-application", 95)
    plan = aggregate.plan((DEMO_IMAGE,), "req-1", "req-2")
    assert plan.failing == frozenset(range(2, 10))
    assert (plan.request_id, plan.global_request_id) == ("req-1", "req-2")
    assert [i.id for i in config.images] == [DEMO_IMAGE]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"aggregates": [{"id": "two"}]}), "aggregates.0.id"),
        (json.dumps({"aggregates": [{"hosts": 5, "failing": "4-9"}]}), "not in 1-5"),
        (json.dumps({"images": [{"id": DEMO_IMAGE}]}), "images.0.name"),
        (json.dumps({"aggregate": []}), "aggregate: Extra inputs are not permitted"),
    ],
)
def test_a_bad_file_is_one_clear_error(tmp_path: Path, content: str, error: str) -> None:
    path = tmp_path / "nova.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=error):
        load_config(path)


def test_the_command_exits_3_on_a_bad_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["nova-api", "--config", str(tmp_path / "missing.json")])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: --config ")
    assert len(result.stderr.splitlines()) == 1
