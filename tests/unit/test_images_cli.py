"""``precache images``'s arguments and rows, without a worker: durations, shares, missing
hosts of an aggregate, the expiring filter, and one line with exit 3 for a bad argument."""

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from precache.cli.main import app
from precache.errors import ConfigError
from precache.images import args, report


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6h", 21_600), ("90m", 5_400), ("1d12h", 129_600), ("30s", 30), ("45", 45), ("1.5h", 5_400)],
)
def test_durations(text, seconds):
    assert args.duration(text, "--valid-for") == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["6y", "h", "", "6h x", "-1h"])
def test_bad_durations(text):
    with pytest.raises(ConfigError, match="--valid-for"):
        args.duration(text, "--valid-for")


def test_shares():
    assert args.share("95%") == pytest.approx(0.95)
    assert args.share("100") == 1.0
    for bad in ("101%", "-1%", "all"):
        with pytest.raises(ConfigError, match="--require"):
            args.share(bad)


def row(host: str, state: str, expires: str | None) -> dict[str, object]:
    return {"region": "r", "host": host, "image": "i", "state": state, "expires_at": expires,
            "cached_at": "2026-12-01T00:00:00.000000Z" if state == "cached" else None}  # fmt: skip


def test_rows_add_the_aggregates_missing_members_and_filter_expiring():
    summary = {
        "region": "r",
        "image": "i",
        "hosts": [row("h1", "cached", "2026-12-02T00:00:00.000000Z"), row("h2", "failed", None)],
        "aggregates": [{"members": ["h1", "h2", "h3"]}],
    }
    rows = list(report.rows([summary]))
    assert [(r["host"], r["state"]) for r in rows] == [
        ("h1", "cached"),
        ("h2", "failed"),
        ("h3", "missing"),
    ]
    now = datetime(2026, 12, 1, 20, tzinfo=UTC)
    assert [r["host"] for r in rows if report.expiring(r, now, timedelta(hours=6))] == ["h1"]
    assert not [r for r in rows if report.expiring(r, now, timedelta(hours=3))]


def test_a_bad_argument_is_one_line_and_exit_3():
    result = CliRunner().invoke(
        app, ["images", "i", "--aggregate", "a", "--require", "95%", "--valid-for", "soon"]
    )
    assert result.exit_code == 3
    assert "--valid-for: expected a duration" in result.output
    result = CliRunner().invoke(app, ["images", "--require", "95%"])
    assert result.exit_code == 3
    assert "the gate needs IMAGE, --aggregate NAME and --require PERCENT" in result.output
