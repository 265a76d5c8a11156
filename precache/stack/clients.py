"""How clients reach the local stack: connection settings, and the env lines for every component.

The stack's own health checks connect with these, as every component configured from
``precache stack env`` does: a secure stack that answers its checks answers the components.
Nothing here reads ``PRECACHE_*`` variables of the caller's environment (``model_construct``),
so a shell already pointed at another stack does not change what the stack checks.
"""

from pathlib import Path

from pydantic import SecretStr

from precache.amqp_connection import AmqpConnection
from precache.kafka_connection import KafkaConnection, SaslMechanism, SecurityProtocol
from precache.stack.pki import Pki, ensure_pki
from precache.stack.settings import StackSettings

SECURE_AMQP_USER = "precache"
SECURE_KAFKA_USER = "precache"
MECHANISM = SaslMechanism.SCRAM_SHA_512

# every variable `stack env` may set: the plain stack's output unsets the secure ones
_ALL = (
    "PRECACHE_AMQP_URL",
    "PRECACHE_AMQP_PASSWORD",
    "PRECACHE_AMQP_PASSWORD_FILE",
    "PRECACHE_AMQP_SSL_CAFILE",
    "PRECACHE_AMQP_SSL_CERTFILE",
    "PRECACHE_AMQP_SSL_KEYFILE",
    "PRECACHE_KAFKA_BOOTSTRAP",
    "PRECACHE_KAFKA_SECURITY_PROTOCOL",
    "PRECACHE_KAFKA_SASL_MECHANISM",
    "PRECACHE_KAFKA_SASL_USERNAME",
    "PRECACHE_KAFKA_SASL_PASSWORD",
    "PRECACHE_KAFKA_SASL_PASSWORD_FILE",
    "PRECACHE_KAFKA_SSL_CAFILE",
    "PRECACHE_KAFKA_SSL_CERTFILE",
    "PRECACHE_KAFKA_SSL_KEYFILE",
    "PRECACHE_KAFKA_SSL_KEY_PASSWORD",
    "PRECACHE_KAFKA_SSL_KEY_PASSWORD_FILE",
)


def pki(settings: StackSettings) -> Pki:
    return ensure_pki(settings.pki_dir)


def amqp_url(settings: StackSettings) -> str:
    """The URL without its password (the password is a file: :func:`client_env`)."""
    if settings.secure:
        return f"amqps://{SECURE_AMQP_USER}@{settings.host}:{settings.amqps_port}//"
    return f"amqp://{settings.amqp_user}@{settings.host}:{settings.amqp_port}//"


def amqp_user_password(settings: StackSettings) -> tuple[str, str]:
    if settings.secure:
        keys = pki(settings)
        return SECURE_AMQP_USER, keys.secret(keys.amqp_password)
    return settings.amqp_user, settings.amqp_password.get_secret_value()


def amqp_connection(settings: StackSettings) -> AmqpConnection:
    _, password = amqp_user_password(settings)
    if not settings.secure:
        return AmqpConnection.model_construct(
            amqp_url=SecretStr(amqp_url(settings)), amqp_password=SecretStr(password)
        )
    keys = pki(settings)
    return AmqpConnection.model_construct(
        amqp_url=SecretStr(amqp_url(settings)),
        amqp_password=SecretStr(password),
        amqp_ssl_cafile=keys.ca,
        amqp_ssl_certfile=keys.client_cert,
        amqp_ssl_keyfile=keys.client_key,
    )


def kafka_connection(settings: StackSettings) -> KafkaConnection:
    if not settings.secure:
        return KafkaConnection.model_construct(kafka_bootstrap=settings.kafka_bootstrap)
    keys = pki(settings)
    return KafkaConnection.model_construct(
        kafka_bootstrap=settings.kafka_bootstrap,
        kafka_security_protocol=SecurityProtocol.SASL_SSL,
        kafka_sasl_mechanism=MECHANISM,
        kafka_sasl_username=SECURE_KAFKA_USER,
        kafka_sasl_password=SecretStr(keys.secret(keys.kafka_password)),
        kafka_ssl_cafile=keys.ca,
        kafka_ssl_certfile=keys.client_cert,
        kafka_ssl_keyfile=keys.client_key,
    )


def _plain_password_file(settings: StackSettings) -> Path:
    """The plain stack's password as a file too, so no env line carries it."""
    path = settings.rabbitmq_dir / "amqp-password"
    password = settings.amqp_password.get_secret_value()
    if not path.exists() or path.read_text().strip() != password:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(password + "\n")
    return path


def client_env(settings: StackSettings) -> dict[str, str | None]:
    """``PRECACHE_*`` for every component (``None``: unset it): secrets only as file paths."""
    env: dict[str, str | None] = dict.fromkeys(_ALL)
    env["PRECACHE_AMQP_URL"] = amqp_url(settings)
    env["PRECACHE_KAFKA_BOOTSTRAP"] = settings.kafka_bootstrap
    if not settings.secure:
        env["PRECACHE_AMQP_PASSWORD_FILE"] = str(_plain_password_file(settings))
        env["PRECACHE_KAFKA_SECURITY_PROTOCOL"] = SecurityProtocol.PLAINTEXT.value
        return env
    keys = pki(settings)
    env |= {
        "PRECACHE_AMQP_PASSWORD_FILE": str(keys.amqp_password),
        "PRECACHE_AMQP_SSL_CAFILE": str(keys.ca),
        "PRECACHE_AMQP_SSL_CERTFILE": str(keys.client_cert),
        "PRECACHE_AMQP_SSL_KEYFILE": str(keys.client_key),
        "PRECACHE_KAFKA_SECURITY_PROTOCOL": SecurityProtocol.SASL_SSL.value,
        "PRECACHE_KAFKA_SASL_MECHANISM": MECHANISM.value,
        "PRECACHE_KAFKA_SASL_USERNAME": SECURE_KAFKA_USER,
        "PRECACHE_KAFKA_SASL_PASSWORD_FILE": str(keys.kafka_password),
        "PRECACHE_KAFKA_SSL_CAFILE": str(keys.ca),
        "PRECACHE_KAFKA_SSL_CERTFILE": str(keys.client_cert),
        "PRECACHE_KAFKA_SSL_KEYFILE": str(keys.client_key),
    }
    return env
