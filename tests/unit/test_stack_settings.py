"""Stack settings come from PRECACHE_STACK_* and keep the password out of reprs."""

import pytest

from precache.stack import StackSettings
from precache.stack.kafka import server_properties


def test_env_overrides_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRECACHE_STACK_AMQP_PORT", "5800")
    monkeypatch.setenv("PRECACHE_STACK_KAFKA_PORT", "9800")
    settings = StackSettings()
    assert settings.amqp_url.endswith("@127.0.0.1:5800//")
    assert settings.kafka_bootstrap == "127.0.0.1:9800"
    assert settings.rabbitmq_dir.name == "rabbitmq-5800"


def test_password_is_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRECACHE_STACK_AMQP_PASSWORD", "s3cret-pw")
    assert "s3cret-pw" not in repr(StackSettings())


def test_bad_port_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRECACHE_STACK_KAFKA_PORT", "99999")
    with pytest.raises(ValueError, match="kafka_port"):
        StackSettings()


def test_kraft_config_listens_where_settings_say() -> None:
    props = server_properties(StackSettings(kafka_port=9911, kafka_controller_port=9912))
    assert "listeners=PLAINTEXT://127.0.0.1:9911,CONTROLLER://127.0.0.1:9912" in props
    assert "process.roles=broker,controller" in props
