"""Stack settings come from PRECACHE_STACK_* and keep the password out of reprs."""

import base64
import uuid
from pathlib import Path

import pytest

from precache.stack import StackSettings, kafka
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


def test_secure_stack_has_tls_and_sasl_listeners_only(tmp_path: Path) -> None:
    from precache.stack.rabbitmq import rabbitmq_conf

    settings = StackSettings(
        state_dir=tmp_path, amqps_port=5811, kafka_sasl_port=9811, kafka_sasl_controller_port=9812
    ).secured()
    props = server_properties(settings)
    assert "listeners=SASL_SSL://127.0.0.1:9811,CONTROLLER://127.0.0.1:9812" in props
    assert "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT" in props
    assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in props
    assert "PLAINTEXT://" not in props
    conf = rabbitmq_conf(settings)
    assert "listeners.tcp = none" in conf
    assert "listeners.ssl.default = 127.0.0.1:5811" in conf
    assert "ssl_options.fail_if_no_peer_cert = true" in conf
    assert (settings.rabbitmq_dir.name, settings.kafka_dir.name) == ("rabbitmq-5811", "kafka-9811")
    assert settings.pki_dir.stat().st_mode & 0o077 == 0
    assert all(p.stat().st_mode & 0o077 == 0 for p in settings.pki_dir.iterdir())


def test_stack_env_points_at_the_plain_stack_with_a_password_file(tmp_path: Path) -> None:
    from precache.stack.clients import client_env

    env = client_env(StackSettings(state_dir=tmp_path, amqp_port=5812, kafka_port=9813))
    assert env["PRECACHE_AMQP_URL"] == "amqp://guest@127.0.0.1:5812//"
    assert env["PRECACHE_KAFKA_BOOTSTRAP"] == "127.0.0.1:9813"
    assert env["PRECACHE_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    password = Path(env["PRECACHE_AMQP_PASSWORD_FILE"] or "")
    assert password.read_text() == "guest\n"
    assert password.stat().st_mode & 0o077 == 0
    assert env["PRECACHE_KAFKA_SSL_CAFILE"] is None  # printed as `unset`


def test_a_cluster_id_never_reads_as_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    """uuid4 bytes whose base64 starts with '-' (0xf8..0xfb first byte): Kafka's storage tool
    took such an id for an option and the stack failed to start, 1 start in 64."""
    ids = iter([uuid.UUID(bytes=b"\xfb" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids))
    made = kafka.cluster_id()
    assert not made.startswith("-")
    assert base64.urlsafe_b64decode(made + "==") == b"\x01" * 16
    monkeypatch.undo()
    assert all(not kafka.cluster_id().startswith("-") for _ in range(2000))
