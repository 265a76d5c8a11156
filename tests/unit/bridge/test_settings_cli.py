from pathlib import Path

import pytest
from typer.testing import CliRunner

from precache.bridge.settings import BridgeSettings, QueueType, load_settings
from precache.cli import app
from precache.errors import ConfigError


def test_defaults_reach_the_local_stack_and_hide_the_password() -> None:
    settings = load_settings()
    assert settings.region == "local"
    assert settings.queue == "precache-bridge"
    assert settings.queue_type is QueueType.QUORUM
    assert "guest:guest" not in repr(settings)
    assert settings.amqp_url_masked == "amqp://guest:***@127.0.0.1:5672//"


def test_options_beat_env_which_beats_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('region = "from-file"\nqueue = "file-q"\nprefetch = 7\n')
    monkeypatch.setenv("PRECACHE_QUEUE", "env-q")
    monkeypatch.setenv("PRECACHE_PREFETCH", "8")
    settings = load_settings(config, prefetch=9)
    assert (settings.region, settings.queue, settings.prefetch) == ("from-file", "env-q", 9)


def test_a_bad_value_names_the_setting_and_its_env_var() -> None:
    with pytest.raises(ConfigError, match=r"prefetch .*PRECACHE_PREFETCH"):
        load_settings(prefetch=0)


def test_nova_queue_mode_uses_oslo_queue_names() -> None:
    settings = BridgeSettings(use_nova_queue=True)
    assert settings.queue_name == "versioned_notifications.info"
    assert settings.legacy_queue_name == "notifications.info"


def test_help_documents_every_bridge_setting() -> None:
    result = CliRunner().invoke(app, ["bridge", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    for flag in ("--region", "--amqp-url", "--kafka", "--prefetch", "--secret-fields", "--config"):
        assert flag in result.output


def test_bad_option_is_one_line_and_exit_3() -> None:
    result = CliRunner().invoke(app, ["bridge", "--prefetch", "0"])
    assert result.exit_code == 3
    assert result.output.strip().count("\n") == 0
    assert "PRECACHE_PREFETCH" in result.output


def test_body_limit_must_fit_in_a_kafka_record() -> None:
    with pytest.raises(ConfigError, match="max_body_bytes"):
        load_settings(max_body_bytes=16 * 1024 * 1024, max_record_bytes=16 * 1024 * 1024)


def test_in_flight_bytes_default_env_and_option(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().max_in_flight_bytes == 64 * 1024 * 1024
    monkeypatch.setenv("PRECACHE_MAX_IN_FLIGHT_BYTES", str(32 * 1024 * 1024))
    assert load_settings().max_in_flight_bytes == 32 * 1024 * 1024
    assert load_settings(max_in_flight_bytes=9 * 1024 * 1024).max_in_flight_bytes == 9437184


def test_in_flight_bytes_must_hold_one_maximal_body() -> None:
    with pytest.raises(ConfigError, match=r"max_in_flight_bytes \(1048576\) .* max_body_bytes"):
        load_settings(max_in_flight_bytes=1024 * 1024)
    settings = load_settings(max_in_flight_bytes=1024 * 1024, max_body_bytes=1024 * 1024)
    assert settings.max_in_flight_bytes == settings.max_body_bytes


def test_a_check_across_settings_is_one_readable_line() -> None:
    result = CliRunner().invoke(app, ["bridge", "--max-in-flight-bytes", "4096"])
    assert result.exit_code == 3
    assert result.output.strip() == (
        "error: settings: max_in_flight_bytes (4096) must be at least max_body_bytes "
        "(8388608), so that one maximal message fits"
    )


def test_help_gives_each_option_its_env_var_and_default() -> None:
    result = CliRunner().invoke(app, ["bridge", "--help"], env={"COLUMNS": "1000"})
    assert "--max-in-flight-bytes" in result.output
    assert "(env PRECACHE_MAX_IN_FLIGHT_BYTES; default 67108864)" in result.output
    assert "(env PRECACHE_PREFETCH; default 2000)" in result.output
