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
