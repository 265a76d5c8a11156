"""What a failed Kafka send means for the bridge: refused for good, fatal, or a broken producer.

aiokafka's idempotent producer retries every retriable error itself, for ever (its batches do
not expire), so an error that reaches the bridge is one of three kinds:

- **refused**: Kafka will never take this record (too large for the topic, a record without
  key on a compacted topic, ...). The record goes to the DLQ (``kafka_refused``).
- **fatal**: Kafka denies the bridge its topics (authorization): nothing can flow; exit.
- **broken**: anything else (a batch that waited longer than ``request_timeout_ms`` for a
  leader, ``OutOfOrderSequenceNumber``, ``UnknownProducerId``, ``InvalidProducerEpoch``, a
  producer whose sender died...). A batch that failed after aiokafka gave it its sequence
  numbers leaves a gap aiokafka never closes (it has no epoch bump): every later batch of that
  partition is refused with ``OutOfOrderSequenceNumber`` for good. So the producer is replaced.
"""

from enum import Enum

from aiokafka import errors
from aiokafka.errors import BrokerResponseError


class InvalidRecordError(BrokerResponseError):  # type: ignore[misc]  # aiokafka: untyped
    """Kafka's INVALID_RECORD (87), e.g. a record without key on a compacted topic.

    aiokafka has no class for code 87 and reports it as ``UnknownError``: registered here so
    the dead letter's ``error`` says what Kafka said.
    """

    errno = 87
    message = "INVALID_RECORD"
    description = (
        "This record has failed the validation on broker and hence will be rejected "
        "(e.g. a record without key on a compacted topic)."
    )


errors.kafka_errors.setdefault(InvalidRecordError.errno, InvalidRecordError)


class Kind(Enum):
    REFUSED = "refused"
    FATAL = "fatal"
    BROKEN = "broken"


_REFUSED: tuple[type[BaseException], ...] = (
    errors.MessageSizeTooLargeError,
    errors.RecordListTooLargeError,
    errors.CorruptRecordException,
    errors.InvalidTimestampError,
    errors.UnsupportedForMessageFormatError,
    InvalidRecordError,
)
_FATAL: tuple[type[BaseException], ...] = (
    errors.TopicAuthorizationFailedError,
    errors.ClusterAuthorizationFailedError,
)


def classify(exc: BaseException) -> Kind:
    if isinstance(exc, _REFUSED):
        return Kind.REFUSED
    if isinstance(exc, _FATAL):
        return Kind.FATAL
    return Kind.BROKEN


def describe(exc: BaseException) -> str:
    """Kafka's error as one line: ``[Error 10] MessageSizeTooLargeError: <description>``."""
    if isinstance(exc, BrokerResponseError):
        return str(exc) if exc.args else f"{exc}: {exc.description}"
    return repr(exc)
