"""The Kafka and RabbitMQ connection settings: env names, secrets from files, TLS options."""

import ssl
from pathlib import Path

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from pydantic import ValidationError

from precache.amqp_connection import AmqpConnection, kombu_options, oslo_transport_url
from precache.bridge.settings import load_settings
from precache.errors import ConfigError
from precache.kafka_connection import KafkaConnection, client_options, faust_credentials
from precache.pipeline.settings import WorkerSettings
from precache.stack.pki import ensure_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_pki(tmp_path_factory.mktemp("pki")).root


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("PRECACHE_")]:
        monkeypatch.delenv(name)


def _sasl_ssl(monkeypatch: pytest.MonkeyPatch, pki: Path, password_file: Path) -> None:
    monkeypatch.setenv("PRECACHE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PRECACHE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("PRECACHE_KAFKA_SASL_USERNAME", "alice")
    monkeypatch.setenv("PRECACHE_KAFKA_SASL_PASSWORD_FILE", str(password_file))
    monkeypatch.setenv("PRECACHE_KAFKA_SSL_CAFILE", str(pki / "ca.pem"))
    monkeypatch.setenv("PRECACHE_KAFKA_SSL_CERTFILE", str(pki / "client.pem"))
    monkeypatch.setenv("PRECACHE_KAFKA_SSL_KEYFILE", str(pki / "client-key.pem"))


def test_every_component_reads_the_same_kafka_env(
    monkeypatch: pytest.MonkeyPatch, pki: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-from-file\n")
    _sasl_ssl(monkeypatch, pki, secret)
    for settings in (KafkaConnection(), WorkerSettings(), load_settings()):
        options = client_options(settings)
        assert options["security_protocol"] == "SASL_SSL"
        assert options["sasl_mechanism"] == "SCRAM-SHA-256"
        assert options["sasl_plain_username"] == "alice"
        assert options["sasl_plain_password"] == "s3cret-from-file"
        context = options["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.check_hostname
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert "s3cret" not in repr(settings) + str(settings)


def test_faust_gets_the_same_credentials(
    monkeypatch: pytest.MonkeyPatch, pki: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("pw")
    _sasl_ssl(monkeypatch, pki, secret)
    credentials = faust_credentials(WorkerSettings())
    assert isinstance(credentials, SASLCredentials)
    assert (credentials.username, credentials.password) == ("alice", "pw")
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    monkeypatch.setenv("PRECACHE_KAFKA_SECURITY_PROTOCOL", "SSL")
    assert isinstance(faust_credentials(WorkerSettings()), SSLCredentials)
    monkeypatch.setenv("PRECACHE_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    for name in ("CAFILE", "CERTFILE", "KEYFILE"):
        monkeypatch.delenv(f"PRECACHE_KAFKA_SSL_{name}")
    assert faust_credentials(WorkerSettings()) is None


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"PRECACHE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs PRECACHE_KAFKA_SASL_USERNAME"),
        ({"PRECACHE_KAFKA_SSL_CAFILE": "/etc/hostname"}, "use SSL or SASL_SSL"),
        (
            {"PRECACHE_KAFKA_SECURITY_PROTOCOL": "SSL", "PRECACHE_KAFKA_SSL_CAFILE": "/nope.pem"},
            "Kafka TLS files unusable",
        ),
        (
            {"PRECACHE_KAFKA_SASL_PASSWORD": "x", "PRECACHE_KAFKA_SASL_PASSWORD_FILE": "/y"},
            "not both",
        ),
        ({"PRECACHE_KAFKA_SASL_PASSWORD_FILE": "/no/such/file"}, "No such file"),
        ({"PRECACHE_KAFKA_SECURITY_PROTOCOL": "TLS"}, "PLAINTEXT"),
    ],
)
def test_bad_kafka_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], says: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=says):
        KafkaConnection()


def test_empty_variables_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRECACHE_KAFKA_SSL_CAFILE", "")
    monkeypatch.setenv("PRECACHE_AMQP_SSL_CAFILE", "")
    assert KafkaConnection().kafka_ssl_cafile is None
    assert AmqpConnection().amqp_ssl_cafile is None


def test_amqps_means_tls_with_the_hostname_checked(
    monkeypatch: pytest.MonkeyPatch, pki: Path, tmp_path: Path
) -> None:
    password = tmp_path / "pw"
    password.write_text("p@ss/word\n")
    monkeypatch.setenv("PRECACHE_AMQP_URL", "amqps://nova@rabbit.example:5671/nova")
    monkeypatch.setenv("PRECACHE_AMQP_PASSWORD_FILE", str(password))
    monkeypatch.setenv("PRECACHE_AMQP_SSL_CAFILE", str(pki / "ca.pem"))
    settings = AmqpConnection()
    options = kombu_options(settings)
    assert options["hostname"] == "amqp://nova@rabbit.example:5671/nova"  # TLS: the ssl option
    assert options["password"] == "p@ss/word"
    assert options["ssl"] == {
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": None,  # kombu fills in the URL's host: checked
        "ca_certs": str(pki / "ca.pem"),
    }
    assert settings.amqp_url_masked == "amqps://nova@rabbit.example:5671/nova"
    oslo = oslo_transport_url(settings)
    assert oslo.startswith("rabbit://nova:p%40ss%2Fword@rabbit.example:5671/nova?ssl=true&")
    assert f"ssl_ca_file={str(pki / 'ca.pem').replace('/', '%2F')}" in oslo


def test_plain_amqp_has_no_tls_and_refuses_tls_files(
    monkeypatch: pytest.MonkeyPatch, pki: Path
) -> None:
    settings = AmqpConnection(amqp_url="amqp://guest:guest@127.0.0.1:5672//")
    assert kombu_options(settings) == {
        "hostname": "amqp://guest@127.0.0.1:5672//",
        "ssl": False,
        "password": "guest",
    }
    assert oslo_transport_url(settings) == "rabbit://guest:guest@127.0.0.1:5672/"
    monkeypatch.setenv("PRECACHE_AMQP_SSL_CAFILE", str(pki / "ca.pem"))
    with pytest.raises(ValidationError, match="must be amqps://"):
        AmqpConnection(amqp_url="amqp://127.0.0.1//")


def test_bridge_offers_no_secret_as_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from precache.cli import app

    result = CliRunner().invoke(app, ["bridge", "--help"], env={"COLUMNS": "200"})
    assert "--amqp-password-file" in result.output
    assert "--kafka-sasl-password-file" in result.output
    assert "--amqp-password " not in result.output
    assert "--kafka-sasl-password " not in result.output
    with pytest.raises(ConfigError, match="PRECACHE_AMQP_PASSWORD_FILE /missing"):
        load_settings(amqp_password_file=Path("/missing"))


@pytest.mark.parametrize("command", [["watch", "--aggregate", "x"], ["audit"], ["worker"]])
def test_a_bad_connection_setting_is_one_line_and_exit_3(command: list[str]) -> None:
    from typer.testing import CliRunner

    from precache.cli import app

    env = {"PRECACHE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "PRECACHE_KAFKA_SASL_USERNAME": "u"}
    result = CliRunner().invoke(app, command, env=env)
    assert result.exit_code == 3
    assert "PRECACHE_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs" in result.output


@pytest.mark.parametrize(
    "bootstrap",
    ["not a host:xx", "127.0.0.1:99999", "host:0", ":9092", "kafka-1", "a:1,,b:2", "h:\uff19"],
)
def test_a_bad_kafka_address_is_refused_by_every_component(bootstrap: str) -> None:
    """Once, in the shared connection settings: bridge, worker, watch, cache and audit."""
    with pytest.raises(ValidationError, match="expected host:port"):
        KafkaConnection(kafka_bootstrap=bootstrap)
    with pytest.raises(ValidationError, match="expected host:port"):
        WorkerSettings(kafka_bootstrap=bootstrap)
    with pytest.raises(ConfigError, match="expected host:port"):
        load_settings(kafka_bootstrap=bootstrap)


@pytest.mark.parametrize(
    "bootstrap", ["127.0.0.1:9092", "kafka-1:9092,kafka-2.example:19092", "[::1]:9092"]
)
def test_good_kafka_addresses_pass(bootstrap: str) -> None:
    assert KafkaConnection(kafka_bootstrap=bootstrap).kafka_bootstrap == bootstrap
