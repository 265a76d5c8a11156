"""Why Kafka would not take us: one line naming the setting to fix, never a secret.

aiokafka's clients report every failed bootstrap as "Unable to bootstrap": an untrusted
certificate, a wrong password and a plaintext client at a TLS listener all look like a broker
that is down, and are retried until a timeout. :func:`refusal` opens one connection the way the
clients do and says what happened, so a start-up check can stop at once (exit 3) on a refusal
and keep waiting only for a broker that does not answer yet.
"""

import asyncio
import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError, SaslAuthenticationFailed

from precache.errors import BrokerRefused
from precache.kafka_connection import KafkaConnection, SecurityProtocol, client_options


async def refusal(settings: KafkaConnection, timeout_s: float) -> str | None:
    """A one-line reason if the first bootstrap server refuses our TLS or SASL settings;
    ``None`` if it takes us, or does not answer at all (down, unknown host, timeout)."""
    options = client_options(settings)
    host, _, port = settings.kafka_bootstrap.split(",")[0].strip().rpartition(":")
    try:
        conn = await asyncio.wait_for(
            create_conn(
                host,
                int(port),
                ssl_context=options.get("ssl_context"),
                security_protocol=options["security_protocol"],
                sasl_mechanism=options.get("sasl_mechanism", "PLAIN"),
                sasl_plain_username=options.get("sasl_plain_username"),
                sasl_plain_password=options.get("sasl_plain_password"),
                request_timeout_ms=int(timeout_s * 1000),
            ),
            timeout_s,
        )
    except ssl.SSLCertVerificationError as exc:
        return (
            f"Kafka at {settings.kafka_bootstrap}: its TLS certificate is not trusted "
            f"(PRECACHE_KAFKA_SSL_CAFILE={settings.kafka_ssl_cafile or 'system CAs'}): "
            f"{exc.verify_message}"
        )
    except ssl.SSLError as exc:
        return (
            f"Kafka at {settings.kafka_bootstrap}: TLS handshake failed ({exc.reason}): is the "
            "listener TLS (PRECACHE_KAFKA_SECURITY_PROTOCOL), does it want a client certificate "
            "(PRECACHE_KAFKA_SSL_CERTFILE)?"
        )
    except SaslAuthenticationFailed:
        return (
            f"Kafka at {settings.kafka_bootstrap}: SASL {settings.kafka_sasl_mechanism} login "
            f"as {settings.kafka_sasl_username!r} refused: check PRECACHE_KAFKA_SASL_USERNAME "
            "and PRECACHE_KAFKA_SASL_PASSWORD(_FILE)"
        )
    except KafkaConnectionError as exc:
        if "closed" not in str(exc):
            return None
        if settings.kafka_security_protocol is SecurityProtocol.PLAINTEXT:
            return (
                f"Kafka at {settings.kafka_bootstrap} closed a plaintext connection: the "
                "listener wants TLS or SASL (PRECACHE_KAFKA_SECURITY_PROTOCOL and friends)"
            )
        return (
            f"Kafka at {settings.kafka_bootstrap} closed the connection: does its listener "
            f"speak {settings.kafka_security_protocol} (PRECACHE_KAFKA_SECURITY_PROTOCOL) "
            "and take our client certificate?"
        )
    except (KafkaError, OSError, TimeoutError, ValueError):
        return None
    conn.close()
    return None


async def raise_if_refused(
    settings: KafkaConnection, timeout_s: float, failure: BaseException | None = None
) -> None:
    """After a failed start: :class:`BrokerRefused` (exit 3) if the cause is a refusal.

    A start that timed out is not probed again: silence is no refusal, and the caller's
    connect timeout is already spent.
    """
    if isinstance(failure, TimeoutError):
        return
    reason = await refusal(settings, min(timeout_s, 10.0))
    if reason is not None:
        raise BrokerRefused(reason)
