"""`precache worker` turns a bad setting into one line naming it, never a traceback."""

from typer.testing import CliRunner

from precache.cli import app


def test_bad_store_is_one_line_naming_the_setting():
    result = CliRunner().invoke(app, ["worker", "--store", "floppy"])
    assert result.exit_code == 3
    assert "store (PRECACHE_STORE)" in result.output
    assert "Traceback" not in result.output


def test_bad_env_setting_is_named_too():
    result = CliRunner().invoke(app, ["worker"], env={"PRECACHE_WEB_PORT": "0"})
    assert result.exit_code == 3
    assert "web_port (PRECACHE_WEB_PORT)" in result.output
