"""The secure stack's credentials: a CA, a server and a client certificate, and passwords.

Made once in the stack's state folder (mode 0700, files 0600) and reused by later ``up``s, so
clients configured from ``precache stack env --secure`` keep working across restarts. The server
certificate names ``127.0.0.1`` and ``localhost``, so clients check the hostname as in
production.
"""

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALID = datetime.timedelta(days=825)
_KEY = ec.SECP256R1()


@dataclass(frozen=True)
class Pki:
    """Paths of everything the secure stack and its clients need."""

    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server-key.pem"

    @property
    def server_keystore(self) -> Path:
        """Key and certificate in one PEM file: Kafka's ``ssl.keystore.type=PEM``."""
        return self.root / "server-keystore.pem"

    @property
    def client_cert(self) -> Path:
        return self.root / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.root / "client-key.pem"

    @property
    def amqp_password(self) -> Path:
        return self.root / "amqp-password"

    @property
    def kafka_password(self) -> Path:
        return self.root / "kafka-password"

    @property
    def kafka_broker_password(self) -> Path:
        return self.root / "kafka-broker-password"

    def secret(self, path: Path) -> str:
        return path.read_text().strip()


def ensure_pki(root: Path) -> Pki:
    """Create whatever is missing (all of it on first use); never replace what exists."""
    pki = Pki(root)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    if not (pki.ca.exists() and pki.ca_key.exists()):
        _write_ca(pki)
    ca_cert = x509.load_pem_x509_certificate(pki.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    if not (pki.server_cert.exists() and pki.server_key.exists()):
        _write_leaf(pki.server_cert, pki.server_key, "precache-stack", ca_cert, ca_key, True)
    if not pki.server_keystore.exists():
        _write(pki.server_keystore, pki.server_key.read_bytes() + pki.server_cert.read_bytes())
    if not (pki.client_cert.exists() and pki.client_key.exists()):
        _write_leaf(pki.client_cert, pki.client_key, "precache", ca_cert, ca_key, False)
    for path in (pki.amqp_password, pki.kafka_password, pki.kafka_broker_password):
        if not path.exists():
            _write(path, (secrets.token_urlsafe(24) + "\n").encode())
    return pki


def _write(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only (never briefly readable by others)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,  # what Kafka's PEM keystore reads
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_ca(pki: Pki) -> None:
    key = ec.generate_private_key(_KEY)
    now = datetime.datetime.now(datetime.UTC)
    name = _name("precache local stack CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write(pki.ca_key, _key_pem(key))
    _write(pki.ca, cert.public_bytes(serialization.Encoding.PEM))


def _write_leaf(
    cert_path: Path,
    key_path: Path,
    common_name: str,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    server: bool,
) -> None:
    key = ec.generate_private_key(_KEY)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # a server's certificate also serves as the broker's client certificate when
            # Kafka talks to its own SASL_SSL listener (inter-broker)
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                if server
                else [ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    _write(key_path, _key_pem(key))
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
