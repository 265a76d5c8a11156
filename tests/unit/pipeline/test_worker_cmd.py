"""`precache worker` turns a bad setting into one line naming it, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from precache.cli import app

PRECACHE = Path(sys.executable).parent / "precache"


def test_bad_store_is_one_line_on_stderr_and_exit_3_in_a_real_process():
    """The real command, as a user runs it: stderr holds the one line and nothing else (a
    traceback, a warning or a log line would be more lines)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECACHE_")}
    done = subprocess.run(
        [PRECACHE, "worker", "--store", "floppy"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: Invalid value for '--store'"), line
    assert "'memory', 'rocksdb'" in line


def test_bad_env_setting_is_named_too():
    result = CliRunner().invoke(app, ["worker"], env={"PRECACHE_WEB_PORT": "0"})
    assert result.exit_code == 3
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: setting web_port (--web-port / PRECACHE_WEB_PORT): ")


def test_unparsable_option_is_one_line_and_exit_3_not_clicks_2():
    result = CliRunner().invoke(app, ["worker", "--web-port", "abc"])
    assert result.exit_code == 3
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: Invalid value for '--web-port'")


def test_image_regions_option_is_json_as_its_env_var(monkeypatch):
    """A mapping setting cannot be a typer option as such: it is given as JSON, then checked
    as the env var is; a bad value names the option, not a path inside it."""
    import precache.cli.worker_cmd as worker_cmd
    from precache.pipeline.settings import RegionExpiry, WorkerSettings

    seen: list[WorkerSettings] = []
    monkeypatch.setattr(worker_cmd, "serve", seen.append)
    regions = '{"RegionTwo": {"min_age_s": 3600, "manager_interval_s": -1}}'
    result = CliRunner().invoke(app, ["worker", "--image-regions", regions])
    assert result.exit_code == 0, result.stderr
    assert seen[0].image_regions == {
        "RegionTwo": RegionExpiry(min_age_s=3600, manager_interval_s=-1)
    }
    for bad, why in [
        ("{bad", "not JSON"),
        ('{"R": {"min_age_s": -1, "manager_interval_s": 0}}', ""),
    ]:
        result = CliRunner().invoke(app, ["worker", "--image-regions", bad])
        assert result.exit_code == 3
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: setting image_regions"), line
        assert "(--image-regions / PRECACHE_IMAGE_REGIONS)" in line
        assert why in line


def test_failures_escaping_faust_are_translated():
    import errno

    from aiokafka.errors import KafkaConnectionError

    from precache.errors import BrokerUnreachable, PortInUse, ServiceFailed
    from precache.pipeline.service import translate_failure
    from precache.pipeline.settings import WorkerSettings

    settings = WorkerSettings(web_port=6099)
    port = translate_failure(OSError(errno.EADDRINUSE, "address already in use"), settings)
    assert isinstance(port, PortInUse)
    assert "6099" in str(port)
    assert isinstance(translate_failure(KafkaConnectionError(), settings), BrokerUnreachable)
    other = translate_failure(ValueError("boom"), settings)
    assert isinstance(other, ServiceFailed)
    assert other.exit_status == 1
