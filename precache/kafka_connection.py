"""How every Kafka client of precache connects: bootstrap servers, TLS and SASL.

One settings block, embedded in every component's settings (through
:class:`precache.config.KafkaSettings`), so ``PRECACHE_KAFKA_SECURITY_PROTOCOL`` and friends
mean the same to the bridge, the worker, the watcher, ``cache``, ``audit`` and the stack's own
checks. :func:`client_options` turns it into aiokafka keyword arguments and
:func:`faust_credentials` into faust's ``broker_credentials``: nothing else reads these fields.
"""

import re
import ssl
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from aiokafka.helpers import create_ssl_context
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT
from pydantic import Field, SecretStr, field_validator, model_validator

from precache.secrets import blank_is_unset, read_secret_files
from precache.settings_base import PrecacheSettings


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


_TLS = (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)
_SASL = (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
SECRET_FIELDS = ("kafka_sasl_password", "kafka_ssl_key_password")
# a host name, an IPv4 address, or an IPv6 address (bare or in brackets)
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[?[0-9A-Fa-f:.]+\]?", re.ASCII)


class KafkaConnection(PrecacheSettings):
    """``PRECACHE_KAFKA_*``: where Kafka is and how to prove who we are to it."""

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="host:port[,host:port...]")
    kafka_security_protocol: SecurityProtocol = Field(
        SecurityProtocol.PLAINTEXT, description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        SaslMechanism.SCRAM_SHA_512, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    kafka_sasl_username: str = Field("", description="SASL user")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (never logged; prefer the _FILE variant)"
    )
    kafka_sasl_password_file: Path | None = Field(
        None, description="file holding the SASL password"
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="CA certificates (PEM) for the brokers; default: the system's"
    )
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate (PEM)")
    kafka_ssl_keyfile: Path | None = Field(None, description="client private key (PEM)")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="password of an encrypted client key"
    )
    kafka_ssl_key_password_file: Path | None = Field(
        None, description="file holding the client key's password"
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        """Fail at the entry point on a typo (one line, exit 3), for every command alike:
        aiokafka would take it and fail later with a traceback, or retry for ever."""
        for item in value.split(","):
            host, sep, port = item.strip().rpartition(":")
            if (
                not sep
                or not _HOST.fullmatch(host)
                or not port.isascii()
                or not port.isdigit()
                or not 0 < int(port) < 65536
            ):
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _kafka_secret_files(cls, data: Any) -> Any:
        optional = [
            n for n, f in cls.model_fields.items() if n.startswith("kafka_") and f.default is None
        ]
        return read_secret_files(blank_is_unset(data, *optional), *SECRET_FIELDS)

    @model_validator(mode="after")
    def _kafka_consistent(self) -> Self:
        protocol = self.kafka_security_protocol
        if protocol in _SASL and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                f"PRECACHE_KAFKA_SECURITY_PROTOCOL={protocol} needs PRECACHE_KAFKA_SASL_USERNAME "
                "and PRECACHE_KAFKA_SASL_PASSWORD (or _FILE)"
            )
        tls_files = (self.kafka_ssl_cafile, self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        if protocol not in _TLS and any(tls_files):
            raise ValueError(
                f"PRECACHE_KAFKA_SSL_* files are set but PRECACHE_KAFKA_SECURITY_PROTOCOL is "
                f"{protocol}: use SSL or SASL_SSL"
            )
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError("PRECACHE_KAFKA_SSL_KEYFILE needs PRECACHE_KAFKA_SSL_CERTFILE")
        if protocol in _TLS:
            self.ssl_context()  # unreadable or mismatched files fail here, at the entry point
        return self

    @property
    def kafka_uses_tls(self) -> bool:
        return self.kafka_security_protocol in _TLS

    def ssl_context(self) -> ssl.SSLContext:
        """The client TLS context: system or given CAs, hostname checked, optional client cert."""
        key_password = self.kafka_ssl_key_password
        try:
            context: ssl.SSLContext = create_ssl_context(
                cafile=self.kafka_ssl_cafile,
                certfile=self.kafka_ssl_certfile,
                keyfile=self.kafka_ssl_keyfile,
                password=key_password.get_secret_value() if key_password else None,
            )
            return context
        except (OSError, ssl.SSLError) as exc:
            files = {
                "PRECACHE_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
                "PRECACHE_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
                "PRECACHE_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
            }
            given = ", ".join(f"{k}={v}" for k, v in files.items() if v)
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise ValueError(
                f"Kafka TLS files unusable ({given or 'system CAs'}): {reason}"
            ) from None


def client_options(settings: KafkaConnection) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin, client)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol.value,
    }
    if settings.kafka_uses_tls:
        options["ssl_context"] = settings.ssl_context()
    if settings.kafka_security_protocol in _SASL:
        password = settings.kafka_sasl_password
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism.value
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


def faust_credentials(settings: KafkaConnection) -> CredentialsT | None:
    """faust's ``broker_credentials`` for the same connection (``None``: plaintext)."""
    protocol = settings.kafka_security_protocol
    if protocol in _SASL:
        password = settings.kafka_sasl_password
        return SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism.value,
            ssl_context=settings.ssl_context() if protocol in _TLS else None,
        )
    if protocol is SecurityProtocol.SSL:
        return SSLCredentials(settings.ssl_context())
    return None


def describe_connection(settings: KafkaConnection) -> str:
    """``host:port (SASL_SSL, SCRAM-SHA-512 as precache)``: for messages; holds no secret."""
    protocol = settings.kafka_security_protocol
    if protocol in _SASL:
        how = f"{protocol}, {settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username}"
    else:
        how = str(protocol)
    return f"{settings.kafka_bootstrap} ({how})"
