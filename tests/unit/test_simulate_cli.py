import socket

from typer.testing import CliRunner

from precache.cli import app


def test_bad_host_range_is_one_line_and_exit_3() -> None:
    result = CliRunner().invoke(app, ["simulate", "--failing", "2-x"])
    assert result.exit_code == 3
    assert result.output.strip() == "error: bad host range '2-x': use numbers like 2-9,12"


def test_hosts_outside_the_aggregate_are_refused() -> None:
    result = CliRunner().invoke(app, ["simulate", "--hosts", "5", "--down", "6"])
    assert result.exit_code == 3
    assert "down: host numbers [6] are not in 1-5" in result.output


def test_unreachable_broker_is_one_line_and_exit_3_within_the_connect_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, not listening: connections are refused
        result = CliRunner().invoke(
            app,
            ["simulate", "--hosts", "3", "--amqp-url", f"amqp://guest:guest@127.0.0.1:{closed}//"],
            env={"PRECACHE_CONNECT_TIMEOUT_S": "1"},
        )
    assert result.exit_code == 3
    (line,) = [x for x in result.output.splitlines() if not x.startswith("operation ")]
    assert line.startswith(f"error: cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:{closed}//")
    assert "PRECACHE_CONNECT_TIMEOUT_S" in line
    assert "sent start" not in result.output


def test_unparsable_option_is_one_line_and_exit_3_not_clicks_2() -> None:
    result = CliRunner().invoke(app, ["simulate", "--hosts", "x"])
    assert result.exit_code == 3
    assert result.output.startswith("error: Invalid value for '--hosts'")
