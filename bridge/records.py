"""The Kafka records the bridge writes: the contract the pipeline reads (see docs/bridge.md)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from precache.bridge.decode import DecodeError, Reason, decode
from precache.bridge.keys import partition_key
from precache.bridge.scrub import SecretRule
from precache.bridge.settings import BridgeSettings

Headers = list[tuple[str, bytes]]

# a dead letter Kafka refused is sent again cut to this (headers kept); refused again: fatal
SHRUNK_BYTES = 1024
_ERROR_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Delivery:
    """One AMQP message as the consumer hands it over."""

    tag: int
    body: bytes
    routing_key: str


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    value: bytes
    key: bytes | None
    headers: Headers
    reason: str | None = None  # set on DLQ records


Item = tuple[Delivery, Record]


def received_at() -> bytes:
    """One timestamp per delivery batch: ISO 8601, UTC."""
    return datetime.now(UTC).isoformat().encode()


class RecordBuilder:
    """Turns deliveries into records; holds the settings-derived constants."""

    def __init__(self, settings: BridgeSettings) -> None:
        self._settings = settings
        self._secrets = SecretRule(settings.secret_fields)
        self._region = settings.region.encode()
        self._source = settings.source.encode()
        self._legacy_prefix = "notifications."

    def build(self, delivery: Delivery, now: bytes) -> Record:
        try:
            decoded = decode(delivery.body, self._settings.max_body_bytes)
            if isinstance(decoded, DecodeError):
                return self.dead_letter(delivery, decoded, now)
            value = self._secrets.forward(decoded.message, decoded.text)
            return self._record(delivery, decoded.message, value, now)
        except Exception as exc:  # a poison message must not stop the bridge, nor be lost
            return self.dead_letter(delivery, DecodeError(Reason.BRIDGE_ERROR, repr(exc)), now)

    def _record(
        self, delivery: Delivery, message: dict[str, Any], value: bytes, now: bytes
    ) -> Record:
        key = partition_key(message)
        headers: Headers = [
            ("region", self._region),
            ("event_type", message["event_type"].encode()),
            ("message_id", str(message.get("message_id", "")).encode()),
            ("source", self._source),
            ("received_at", now),
        ]
        return Record(
            topic=self._topic(delivery.routing_key),
            value=value,
            key=key.encode() if key is not None else None,
            headers=headers,
        )

    def _topic(self, routing_key: str) -> str:
        if self._settings.legacy and routing_key.startswith(self._legacy_prefix):
            return self._settings.legacy_topic
        return self._settings.raw_topic

    def dead_letter(self, delivery: Delivery, error: DecodeError, now: bytes) -> Record:
        """The original bytes, secrets scrubbed (see ``scrub``), cut at ``max_body_bytes``."""
        body = delivery.body[: self._settings.max_body_bytes]
        if len(body) < len(delivery.body):
            value, scrubbed = self._secrets.cut_at_secret(body)  # a cut body is not JSON
        else:
            try:
                value, scrubbed = self._secrets.dead_letter(body)
            except Exception:
                # the JSON scrubber failed on it (a bug): the text-only scrubber cannot fail
                value, scrubbed = self._secrets.cut_at_secret(body)
        return self._dead_letter(delivery, error.reason, error.detail, value, scrubbed, now)

    def last_resort(self, delivery: Delivery, exc: BaseException, now: bytes) -> Record:
        """``bridge_error``: the dead letter of a delivery the bridge failed on, built with
        nothing that parses (the body cut at ``max_body_bytes``, then ``cut_at_secret``)."""
        value, scrubbed = self._secrets.cut_at_secret(
            delivery.body[: self._settings.max_body_bytes]
        )
        return self._dead_letter(delivery, Reason.BRIDGE_ERROR, repr(exc), value, scrubbed, now)

    def _dead_letter(
        self,
        delivery: Delivery,
        reason: Reason,
        detail: str,
        value: bytes,
        scrubbed: str,
        now: bytes,
    ) -> Record:
        """The DLQ record of ``value`` (already cut and scrubbed) with the headers every dead
        letter carries (docs/bridge-reliability.md lists them)."""
        headers: Headers = [
            ("reason", reason.value.encode()),
            ("error", detail[:_ERROR_CHARS].encode(errors="replace")),
            ("region", self._region),
            ("source", self._source),
            ("received_at", now),
            ("routing_key", delivery.routing_key.encode(errors="replace")),
            ("original_bytes", str(len(delivery.body)).encode()),
            ("scrubbed", scrubbed.encode()),
        ]
        return Record(self._settings.dlq_topic, value, None, headers, reason.value)

    def refused(self, delivery: Delivery, record: Record, kafka_error: str) -> Record:
        """The dead letter of a record Kafka refused for good (``kafka_refused``)."""
        detail = (
            f"Kafka refused the record for good ({len(record.value)} bytes value, topic "
            f"{record.topic}): {kafka_error}"
        )
        return self.dead_letter(delivery, DecodeError(Reason.KAFKA_REFUSED, detail), received_at())

    @staticmethod
    def shrunk(record: Record, kafka_error: str) -> Record:
        """A dead letter Kafka refused, cut to SHRUNK_BYTES (headers kept, ``shrunk`` added)."""
        headers = [
            *record.headers,
            ("shrunk", f"{SHRUNK_BYTES}: {kafka_error}"[:_ERROR_CHARS].encode()),
        ]
        return Record(record.topic, record.value[:SHRUNK_BYTES], None, headers, record.reason)
