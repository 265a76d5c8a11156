"""Start-up check and delivery watch for the simulator's RabbitMQ.

oslo.messaging's Notifier never raises: its driver logs a failed send and returns, and by
default the rabbit driver retries a lost connection for ever. So the simulator checks the
broker itself before sending (one connection within ``connect_timeout_s``), bounds oslo's
retries (``publish_retries``), and reads oslo's error records to learn that a notification
was lost.
"""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import amqp.exceptions
import kombu.exceptions
from kombu.connection import Connection

from precache.amqp_connection import kombu_options, refusal
from precache.errors import BrokerRefused, BrokerUnreachable, DeliveryError
from precache.simulate.settings import SimulateSettings

RETRY_S = 0.5
OSLO_NOTIFY_LOGGER = "oslo_messaging.notify"  # .messaging (driver) and .notifier log lost sends

_HINTS = {403: "check the user and password", 530: "check the vhost (the URL's path)"}


def check_broker(settings: SimulateSettings) -> None:
    """Connect once, retrying until ``connect_timeout_s``; a refusal (login, vhost) is final."""
    where = f"RabbitMQ at {settings.amqp_url_masked} (--amqp-url / PRECACHE_AMQP_URL)"
    deadline = time.monotonic() + settings.connect_timeout_s
    reason = "no answer"
    while True:
        remaining = max(deadline - time.monotonic(), 0.1)
        connection = Connection(**kombu_options(settings), connect_timeout=remaining)
        try:
            connection.connect()
            return
        except amqp.exceptions.AMQPError as exc:  # the broker answered: retrying cannot help
            hint = _HINTS.get(exc.code or 0, "check the URL")
            detail = exc.reply_text or str(exc)
            raise BrokerRefused(f"{where} refused us ({hint}): {detail}") from exc
        except (OSError, kombu.exceptions.OperationalError) as exc:
            refused = refusal(settings, exc)
            if refused is not None:
                raise BrokerRefused(refused) from exc
            reason = str(exc) or type(exc).__name__
        finally:
            connection.release()
        if time.monotonic() + RETRY_S >= deadline:
            break
        time.sleep(RETRY_S)
    raise BrokerUnreachable(
        f"cannot reach {where} within {settings.connect_timeout_s:g}s "
        f"(PRECACHE_CONNECT_TIMEOUT_S): {reason}"
    )


class LostNotifications(logging.Handler):
    """Collects oslo's "could not send" records about one operation (by its aggregate uuid)."""

    def __init__(self, aggregate_uuid: str) -> None:
        super().__init__(logging.ERROR)
        self._aggregate = aggregate_uuid
        self._guard = threading.Lock()
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if _aggregate_of(record) != self._aggregate:
            return
        error = record.exc_info[1] if record.exc_info else None
        with self._guard:
            self.count += 1
            if self.first is None:
                self.first = str(error) if error else record.getMessage()

    def any(self) -> bool:
        return self.count > 0

    def raise_if_any(self, settings: SimulateSettings, sent: int) -> None:
        if self.count:
            where = settings.amqp_url_masked
            raise DeliveryError(
                f"RabbitMQ at {where} stopped taking notifications after {sent} were sent "
                f"({self.count} lost after {settings.publish_retries} retries): {self.first}"
            )


def _aggregate_of(record: logging.LogRecord) -> str | None:
    args: Any = record.args
    if not isinstance(args, dict):
        return None
    message = args.get("message") or {}  # the driver's record; the notifier's has "payload"
    payload = message.get("payload") if isinstance(message, dict) else args.get("payload")
    if not isinstance(payload, dict):
        payload = args.get("payload")
    data = payload.get("nova_object.data") if isinstance(payload, dict) else None
    uuid = data.get("uuid") if isinstance(data, dict) else None
    return uuid if isinstance(uuid, str) else None


@contextmanager
def watch_deliveries(aggregate_uuid: str) -> Iterator[LostNotifications]:
    """Attach a :class:`LostNotifications` to oslo's notify loggers while the block runs."""
    handler = LostNotifications(aggregate_uuid)
    logger = logging.getLogger(OSLO_NOTIFY_LOGGER)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
