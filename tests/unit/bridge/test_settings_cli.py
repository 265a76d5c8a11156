import json
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from precache import logs
from precache.bridge.settings import BridgeSettings, QueueType, load_settings
from precache.cli import app, bridge_cmd
from precache.errors import ConfigError
from precache.stack.pki import Pki, ensure_pki


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


SETTINGS = sorted(BridgeSettings.model_fields)
# secrets are never options (they would show in the process list): env, _FILE or the TOML file
SECRETS = {"amqp_password", "kafka_sasl_password", "kafka_ssl_key_password"}
OPTIONS = sorted(set(SETTINGS) - SECRETS)
# values that must have a form of their own; every other one is derived from its type
SPECIAL = {
    "amqp_url": "amqp://user:pw@rabbit.example:5673/vhost",
    "kafka_bootstrap": "kafka.example:9093",
    "log_level": "DEBUG",
}


def test_the_bridge_has_settings_to_check() -> None:
    assert len(SETTINGS) >= 25
    assert {"region", "amqp_url", "prefetch", "max_in_flight_bytes", "secret_fields"} <= set(
        SETTINGS
    )


# settings that are valid only with another one: what each needs beside it (as env vars)
AMQPS = {"PRECACHE_AMQP_URL": "amqps://rabbit.example:5671/"}
KAFKA_SSL = {"PRECACHE_KAFKA_SECURITY_PROTOCOL": "SSL"}
COMPANIONS = {
    "amqp_ssl_cafile": AMQPS,
    "amqp_ssl_certfile": AMQPS,
    "amqp_ssl_keyfile": {**AMQPS, "PRECACHE_AMQP_SSL_CERTFILE": "amqp_ssl_certfile"},
    "kafka_ssl_cafile": KAFKA_SSL,
    "kafka_ssl_certfile": KAFKA_SSL,
    "kafka_ssl_keyfile": {**KAFKA_SSL, "PRECACHE_KAFKA_SSL_CERTFILE": "kafka_ssl_certfile"},
    "kafka_ssl_key_password": {**KAFKA_SSL, "PRECACHE_KAFKA_SSL_CERTFILE": "kafka_ssl_certfile"},
    "kafka_ssl_key_password_file": {
        **KAFKA_SSL,
        "PRECACHE_KAFKA_SSL_CERTFILE": "kafka_ssl_certfile",
    },
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return ensure_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def files_and_companions(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pki: Pki
) -> None:
    """The files a path setting names exist (real certificates and keys where TLS files are
    meant: they are loaded when the settings are checked), and a setting's companions are set."""
    monkeypatch.chdir(tmp_path)
    name = getattr(request.node, "callspec", None) and request.node.callspec.params.get("name")
    for var, value in COMPANIONS.get(str(name), {}).items():
        monkeypatch.setenv(var, value)
    pem = {  # a certificate file alone holds its key too, as TLS libraries accept it
        "cafile": pki.ca.read_text(),
        "certfile": pki.client_cert.read_text() + pki.client_key.read_text(),
        "keyfile": pki.client_key.read_text(),
    }
    for field in BridgeSettings.model_fields:
        (tmp_path / field).write_text(pem.get(field.rsplit("_", 1)[-1], f"s3cret-{field}\n"))


def _sample(name: str) -> Any:
    """A valid value that is not the default (so a path that drops it shows); a path setting
    names a file of the test's working folder (see ``files_and_companions``)."""
    if name in SPECIAL:
        return SPECIAL[name]
    field = BridgeSettings.model_fields[name]
    kind, default = field.annotation, field.default
    if kind is bool:
        return not default
    if kind is int:
        return default + 1
    if kind is float:
        return default + 1.5
    if kind is str:
        return f"{name}-set"
    if kind == list[str]:
        return [f"{name}-a", f"{name}-b"]
    if isinstance(kind, type) and issubclass(kind, Enum):
        return next(member.value for member in kind if member != default)
    if kind == Path | None:
        return str(Path.cwd() / name)
    if kind in (SecretStr, SecretStr | None):
        return f"s3cret-{name}"
    pytest.fail(f"setting {name}: no sample value for {kind}; add one to this test")


def _value(settings: BridgeSettings, name: str) -> Any:
    value = getattr(settings, name)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    return value.value if isinstance(value, Enum) else value


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _argv(name: str, value: Any) -> list[str]:
    if isinstance(value, bool):
        return [_flag(name) if value else f"--no-{name.replace('_', '-')}"]
    if isinstance(value, list):
        return [arg for item in value for arg in (_flag(name), item)]
    return [_flag(name), str(value)]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[BridgeSettings]:
    """What `precache bridge` would serve: the settings it built, captured instead of run."""
    served: list[BridgeSettings] = []

    async def serve(settings: BridgeSettings) -> None:
        served.append(settings)

    monkeypatch.setattr(bridge_cmd, "serve", serve)
    monkeypatch.setattr(bridge_cmd, "limit_library_logs", lambda: None)
    monkeypatch.setattr(logs, "configure", lambda level: None)
    return served


@pytest.mark.parametrize("name", OPTIONS)
def test_every_bridge_setting_is_an_option(name: str, started: list[BridgeSettings]) -> None:
    value = _sample(name)
    result = CliRunner().invoke(app, ["bridge", *_argv(name, value)])
    assert result.exit_code == 0, result.output
    (settings,) = started
    assert _value(settings, name) == value


@pytest.mark.parametrize("name", SETTINGS)
def test_every_bridge_setting_is_an_env_var(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    value = _sample(name)
    text = json.dumps(value) if isinstance(value, list) else str(value)
    monkeypatch.setenv(f"PRECACHE_{name.upper()}", text)
    assert _value(load_settings(), name) == value


@pytest.mark.parametrize("name", SETTINGS)
def test_every_bridge_setting_is_read_from_the_config_file(name: str, tmp_path: Path) -> None:
    value = _sample(name)
    config = tmp_path / "bridge.toml"
    toml = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
    config.write_text(f"{name} = {toml}\n")
    assert _value(load_settings(config), name) == value


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_a_secret_is_never_an_option(name: str, started: list[BridgeSettings]) -> None:
    result = CliRunner().invoke(app, ["bridge", _flag(name), "x"])
    assert result.exit_code != 0
    assert started == []
    help_text = CliRunner().invoke(app, ["bridge", "--help"], env={"COLUMNS": "1000"}).output
    assert _flag(name) + " " not in help_text


@pytest.mark.parametrize("name", OPTIONS)
def test_every_bridge_setting_has_help_with_its_env_var_and_default(name: str) -> None:
    result = CliRunner().invoke(app, ["bridge", "--help"], env={"COLUMNS": "1000"})
    assert result.exit_code == 0
    field = BridgeSettings.model_fields[name]
    assert field.description, f"setting {name} has no description"
    (line,) = [ln for ln in result.output.splitlines() if f"(env PRECACHE_{name.upper()};" in ln]
    assert _flag(name) in line
    assert field.description in line


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
