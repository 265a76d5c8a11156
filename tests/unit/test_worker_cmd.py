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


def test_unparsable_option_is_one_line_and_exit_3_not_clicks_2():
    result = CliRunner().invoke(app, ["worker", "--web-port", "abc"])
    assert result.exit_code == 3
    assert result.output.startswith("error: Invalid value for '--web-port'")
    assert len(result.output.strip().splitlines()) == 1


def test_failures_escaping_faust_are_translated():
    import errno

    from aiokafka.errors import KafkaConnectionError

    from precache.cli.worker_cmd import translate_failure
    from precache.errors import BrokerUnreachable, PortInUse, ServiceFailed
    from precache.pipeline.settings import WorkerSettings

    settings = WorkerSettings(web_port=6099)
    port = translate_failure(OSError(errno.EADDRINUSE, "address already in use"), settings)
    assert isinstance(port, PortInUse)
    assert "6099" in str(port)
    assert isinstance(translate_failure(KafkaConnectionError(), settings), BrokerUnreachable)
    other = translate_failure(ValueError("boom"), settings)
    assert isinstance(other, ServiceFailed)
    assert other.exit_status == 1
