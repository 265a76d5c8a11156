"""``precache bridge-queue migrate``: give an existing bridge queue x-single-active-consumer.

RabbitMQ cannot change a queue's arguments, so the queue is declared anew, its messages moved
through a temporary queue ``<queue>.migrating``, nothing lost while Nova keeps publishing:

1. declare the temporary queue (no binding; the queue type, without the new argument, which
   would forbid the ``basic.get`` the moves use); move the old queue's messages
   into it (the old queue, still bound, keeps catching what Nova publishes meanwhile);
2. bind the temporary queue, *then* unbind the old one, move what is left, delete the old
   queue (only if empty); a message published between the two steps is in both: a
   duplicate (the pipeline tolerates duplicates), rather than a loss;
3. the same from the temporary queue back into the queue declared with the new arguments.

Each message is moved with publisher confirms before it is acked, so a crash midway leaves
every message in one queue or both, never in none (run the command again). Order is kept
but for the messages published in the instant between a bind and an unbind. The bridges of
the queue must be stopped: a consumer would take messages midway (the command refuses).
"""

import amqp
import structlog
from kombu.connection import Connection
from kombu.entity import Queue
from kombu.exceptions import OperationalError

from precache.amqp_connection import kombu_options
from precache.bridge.exceptions import AmqpSetupError
from precache.bridge.settings import BridgeSettings
from precache.bridge.topology import SINGLE_ACTIVE_CONSUMER, declared_queues

log = structlog.get_logger(__name__)

TEMPORARY_SUFFIX = ".migrating"


def migrate(settings: BridgeSettings) -> dict[str, int]:
    """Re-declare every queue of ``settings`` with single active consumer; messages moved,
    per queue (0: it had the argument already, or did not exist)."""
    if not settings.single_active_consumer:
        settings = settings.model_copy(update={"single_active_consumer": True})
    moved: dict[str, int] = {}
    options = kombu_options(settings)
    try:
        with Connection(**options, transport_options={"confirm_publish": True}) as conn:
            conn.connect()
            for queue in declared_queues(settings):
                moved[queue.name] = _migrate_one(conn, queue)
    except (OSError, amqp.exceptions.AMQPError, OperationalError) as exc:
        where = settings.amqp_url_masked
        raise AmqpSetupError(f"RabbitMQ {where}: {exc} (nothing lost: run it again)") from exc
    return moved


def _migrate_one(conn: Connection, target: Queue) -> int:
    name, temporary = target.name, target.name + TEMPORARY_SUFFIX
    channel = conn.channel()
    try:
        ok = channel.queue_declare(name, passive=True)
    except amqp.exceptions.NotFound:
        log.info("queue does not exist: the bridge declares it", queue=name)
        return 0
    if int(ok.consumer_count):
        raise AmqpSetupError(
            f"queue {name!r} has {ok.consumer_count} consumer(s): stop its bridges first"
        )
    if _has_argument(conn, target):
        log.info("queue has x-single-active-consumer already", queue=name)
        return 0
    channel = conn.channel()
    channel.auto_decode = False  # move the bytes as they are
    bindings = [(b.exchange.name, b.routing_key) for b in target.bindings]
    for b in target.bindings:
        b.exchange(channel).declare()
    # without the argument: RabbitMQ refuses basic.get on a single-active-consumer quorum queue
    plain = {k: v for k, v in _args(target).items() if k != SINGLE_ACTIVE_CONSUMER}
    channel.queue_declare(temporary, durable=True, auto_delete=False, arguments=plain)
    moved = _move(channel, name, temporary)
    for exchange, key in bindings:
        channel.queue_bind(temporary, exchange, key)
    for exchange, key in bindings:
        channel.queue_unbind(name, exchange, key)
    moved += _move(channel, name, temporary)
    _delete_empty(channel, name)
    channel.queue_declare(name, durable=True, auto_delete=False, arguments=_args(target))
    _move(channel, temporary, name)
    for exchange, key in bindings:
        channel.queue_bind(name, exchange, key)
    for exchange, key in bindings:
        channel.queue_unbind(temporary, exchange, key)
    _move(channel, temporary, name)
    _delete_empty(channel, temporary)
    log.info("queue migrated", queue=name, moved=moved, arguments=_args(target))
    return moved


def _delete_empty(channel: amqp.Channel, name: str) -> None:
    """Delete ``name``, unbound and unconsumed, once it is empty (quorum queues refuse
    ``if_empty``: checked here; nothing can arrive since it has no binding)."""
    left = int(channel.queue_declare(name, passive=True).message_count)
    if left:
        raise AmqpSetupError(f"queue {name!r} still holds {left} messages: run migrate again")
    channel.queue_delete(name)


def _args(queue: Queue) -> dict[str, object]:
    arguments: dict[str, object] | None = getattr(queue, "queue_arguments", None)
    return dict(arguments or {})


def _has_argument(conn: Connection, target: Queue) -> bool:
    """Whether the queue was declared with the argument: RabbitMQ answers a declaration with
    other arguments by closing the channel (PRECONDITION_FAILED), so ask on a channel of its
    own; a declaration with the same arguments changes nothing."""
    channel = conn.channel()
    try:
        channel.queue_declare(target.name, durable=True, auto_delete=False, arguments=_args(target))
    except amqp.exceptions.PreconditionFailed as exc:
        if SINGLE_ACTIVE_CONSUMER not in str(exc):
            raise AmqpSetupError(f"queue {target.name!r}: {exc}") from exc
        return False
    return True


def _move(channel: amqp.Channel, source: str, target: str) -> int:
    """Every message now in ``source`` into ``target`` (confirmed, then acked), in order."""
    moved = 0
    while True:
        message = channel.basic_get(source, no_ack=False)
        if message is None:
            return moved
        copy = amqp.Message(message.body, **message.properties)
        channel.basic_publish(copy, exchange="", routing_key=target)  # waits for the confirm
        channel.basic_ack(message.delivery_tag)
        moved += 1
