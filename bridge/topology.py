"""What the bridge declares on RabbitMQ: its queue(s) and their bindings to Nova's exchange.

Public, so that a tool which must declare the queue before the bridge runs (``precache demo``:
nothing sent before the bridge connects is lost) declares exactly what the bridge would.
"""

from kombu.entity import Exchange, Queue, binding

from precache.bridge.settings import BridgeSettings, QueueType

# RabbitMQ delivers to one consumer of the queue at a time; the others wait (hot standby)
SINGLE_ACTIVE_CONSUMER = "x-single-active-consumer"


def declared_queues(settings: BridgeSettings) -> list[Queue]:
    """Our queue(s), declared the way the settings say (or exactly as oslo declares Nova's)."""
    exchange = Exchange(
        settings.exchange, type="topic", durable=settings.exchange_durable, auto_delete=False
    )
    queues = [_queue(settings, exchange, settings.queue_name, settings.binding_keys)]
    if settings.legacy:
        queues.append(_queue(settings, exchange, settings.legacy_queue_name, ["notifications.*"]))
    return queues


def _queue(settings: BridgeSettings, exchange: Exchange, name: str, keys: list[str]) -> Queue:
    if settings.use_nova_queue:
        return Queue(
            name,
            exchange,
            routing_key=name,
            durable=settings.exchange_durable,
            auto_delete=False,
        )
    arguments: dict[str, object] = {}
    if settings.queue_type is QueueType.QUORUM:
        arguments["x-queue-type"] = settings.queue_type.value
    if settings.single_active_consumer:
        arguments[SINGLE_ACTIVE_CONSUMER] = True
    return Queue(
        name,
        bindings=[binding(exchange, routing_key=key) for key in keys],
        durable=True,
        auto_delete=False,
        exclusive=False,
        queue_arguments=arguments or None,
    )
