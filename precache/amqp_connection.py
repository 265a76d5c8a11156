"""How the bridge and the simulator connect to RabbitMQ: URL, password, TLS.

``amqps://`` always means TLS, checked against ``PRECACHE_AMQP_SSL_CAFILE`` (or the system's
CAs) with the broker's hostname verified; a client certificate is sent when one is given. The
password can stay out of the URL (``PRECACHE_AMQP_PASSWORD`` or ``PRECACHE_AMQP_PASSWORD_FILE``),
so no URL worth hiding ever reaches a command line or a log.
"""

import ssl
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from precache.logs import mask_url
from precache.secrets import blank_is_unset, read_secret_files
from precache.settings_base import PrecacheSettings

AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672//"


class AmqpConnection(PrecacheSettings):
    """``PRECACHE_AMQP_*``: one RabbitMQ, as kombu and oslo.messaging reach it."""

    amqp_url: SecretStr = Field(
        SecretStr(DEFAULT_URL),
        description="RabbitMQ URL, amqp:// or amqps:// (TLS); the password is better given "
        "apart (PRECACHE_AMQP_PASSWORD[_FILE])",
    )
    amqp_password: SecretStr | None = Field(
        None, description="RabbitMQ password; replaces one in the URL (never logged)"
    )
    amqp_password_file: Path | None = Field(None, description="file holding the password")
    amqp_ssl_cafile: Path | None = Field(
        None, description="CA certificates (PEM) for amqps://; default: the system's"
    )
    amqp_ssl_certfile: Path | None = Field(
        None, description="client certificate (PEM) for amqps://"
    )
    amqp_ssl_keyfile: Path | None = Field(None, description="client private key (PEM)")

    @model_validator(mode="before")
    @classmethod
    def _amqp_secret_files(cls, data: Any) -> Any:
        optional = [
            n for n, f in cls.model_fields.items() if n.startswith("amqp_") and f.default is None
        ]
        return read_secret_files(blank_is_unset(data, *optional), "amqp_password")

    @field_validator("amqp_url")
    @classmethod
    def _amqp_url_usable(cls, url: SecretStr) -> SecretStr:
        """A URL kombu cannot use is a configuration error, not a broker that is down."""
        parts = urlsplit(url.get_secret_value())
        if parts.scheme not in AMQP_SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(AMQP_SCHEMES)}")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        if not parts.hostname:
            raise ValueError("no host (amqp://user@host:port/vhost)")
        if parts.query:
            raise ValueError("no query options (TLS: amqps:// and PRECACHE_AMQP_SSL_*)")
        return url

    @model_validator(mode="after")
    def _tls_files_need_amqps(self) -> Self:
        given = [self.amqp_ssl_cafile, self.amqp_ssl_certfile, self.amqp_ssl_keyfile]
        if any(given) and not self.amqp_tls:
            raise ValueError("PRECACHE_AMQP_SSL_* files are set: the URL must be amqps://")
        if self.amqp_ssl_keyfile and not self.amqp_ssl_certfile:
            raise ValueError("PRECACHE_AMQP_SSL_KEYFILE needs PRECACHE_AMQP_SSL_CERTFILE")
        for path in given:
            if path is not None and not path.is_file():
                raise ValueError(f"PRECACHE_AMQP_SSL_* file {path} does not exist")
        return self

    @property
    def amqp_tls(self) -> bool:
        return urlsplit(self.amqp_url.get_secret_value()).scheme == "amqps"

    @property
    def amqp_url_masked(self) -> str:
        """The URL as logs and messages show it: no password, ``amqps`` if TLS."""
        return mask_url(self.amqp_url.get_secret_value())


def _password(settings: AmqpConnection) -> str | None:
    if settings.amqp_password is not None:
        return settings.amqp_password.get_secret_value()
    password = urlsplit(settings.amqp_url.get_secret_value()).password
    return unquote(password) if password is not None else None


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


def kombu_ssl(settings: AmqpConnection) -> dict[str, Any] | bool:
    """kombu's ``ssl`` option: py-amqp's TLS socket options, hostname checked (kombu fills
    ``server_hostname`` from the URL's host when it is ``None``)."""
    if not settings.amqp_tls:
        return False
    options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": None}
    if settings.amqp_ssl_cafile:
        options["ca_certs"] = str(settings.amqp_ssl_cafile)
    if settings.amqp_ssl_certfile:
        options["certfile"] = str(settings.amqp_ssl_certfile)
    if settings.amqp_ssl_keyfile:
        options["keyfile"] = str(settings.amqp_ssl_keyfile)
    return options


def kombu_options(settings: AmqpConnection) -> dict[str, Any]:
    """Arguments for ``kombu.Connection(**kombu_options(s), ...)``: URL without password, the
    password apart, TLS options for ``amqps``."""
    url = _without_password(settings.amqp_url.get_secret_value())
    # TLS is the ssl option, not the scheme: kombu's amqps transport would replace a custom
    # transport class (the bridge's), and the bridge's would then ignore the scheme
    options: dict[str, Any] = {
        "hostname": urlunsplit(urlsplit(url)._replace(scheme="amqp")),
        "ssl": kombu_ssl(settings),
    }
    password = _password(settings)
    if password is not None:
        options["password"] = password
    return options


def oslo_transport_url(settings: AmqpConnection | str) -> str:
    """oslo.messaging's ``rabbit://u:p@h:5672/`` (vhost "/"), TLS options in its query.

    oslo's rabbit driver reads ``[oslo_messaging_rabbit]`` options from the URL's query; it
    checks the hostname only when ``ssl_ca_file`` is set, so without our own CA file the
    system's CA bundle is named explicitly. A bare URL string is taken as it is.
    """
    if isinstance(settings, str):
        settings = AmqpConnection.model_construct(amqp_url=SecretStr(settings))
    url = settings.amqp_url.get_secret_value()
    parts = urlsplit(url)
    vhost = parts.path[1:] if parts.path.startswith("/") else parts.path
    path = "/" if vhost in ("", "/") else f"/{vhost}"
    netloc = urlsplit(_without_password(url)).netloc
    password = _password(settings)
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user}:{quote(password, safe='')}@{host}"
    query = ""
    if settings.amqp_tls:
        cafile = settings.amqp_ssl_cafile or ssl.get_default_verify_paths().openssl_cafile
        options = {"ssl": "true", "ssl_ca_file": str(cafile)}
        if settings.amqp_ssl_certfile:
            options["ssl_cert_file"] = str(settings.amqp_ssl_certfile)
        if settings.amqp_ssl_keyfile:
            options["ssl_key_file"] = str(settings.amqp_ssl_keyfile)
        query = urlencode(options)
    return urlunsplit(("rabbit", netloc, path, query, ""))


def refusal(settings: AmqpConnection, exc: BaseException) -> str | None:
    """One line if ``exc`` says RabbitMQ will not take our TLS settings (waiting cannot help):
    an untrusted certificate, a failed handshake, or a plaintext client reset by a TLS
    listener. ``None`` for anything else (down, timeout). Names settings, never secrets."""
    where = f"RabbitMQ at {settings.amqp_url_masked}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        cafile = settings.amqp_ssl_cafile or "system CAs"
        return (
            f"{where}: its TLS certificate is not trusted (PRECACHE_AMQP_SSL_CAFILE={cafile}): "
            f"{exc.verify_message}"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"{where}: TLS handshake failed ({exc.reason or exc}): is the listener TLS, does it "
            "want a client certificate (PRECACHE_AMQP_SSL_CERTFILE / _KEYFILE)?"
        )
    if isinstance(exc, ConnectionResetError) and not settings.amqp_tls:
        return (
            f"{where} reset a plaintext connection during the AMQP handshake: a TLS listener? "
            "(use amqps:// and PRECACHE_AMQP_SSL_CAFILE)"
        )
    return None
