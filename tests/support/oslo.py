"""What Nova does, with oslo.messaging's own Notifier: notifications onto RabbitMQ, and a
request context that still carries the secrets older oslo.messaging sent."""

import uuid
from typing import Any

import oslo_messaging
from oslo_config import cfg
from oslo_context.context import RequestContext
from oslo_messaging._drivers import impl_rabbit

TOKEN = "gAAAAAB-this-is-a-keystone-token-" + uuid.uuid4().hex


class UnredactedContext(RequestContext):
    """A Nova-like context as oslo.messaging < 14.4 sent it: token and catalog included.

    Newer oslo.messaging sends ``redacted_copy()``; returning ourselves restores the old leak.
    """

    def redacted_copy(self, **kwargs: Any) -> "UnredactedContext":
        return self

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "service_catalog": [{"type": "image", "endpoints": []}]}


def emit_with_oslo(
    amqp_url: str, aggregate: str, count: int, quorum: bool = False, exchange: str = "nova"
) -> None:
    """What Nova does: messagingv2 Notifier, rabbit transport, control exchange ``nova``
    (``quorum``: nova.conf's ``[oslo_messaging_rabbit] rabbit_quorum_queue = True``)."""
    conf = cfg.ConfigOpts()
    conf([], project="precache-test")
    if quorum:
        conf.register_opts(impl_rabbit.rabbit_opts, group="oslo_messaging_rabbit")
        conf.set_override("rabbit_quorum_queue", True, group="oslo_messaging_rabbit")
    oslo_messaging.set_transport_defaults(control_exchange=exchange)
    url = amqp_url.replace("amqp://", "rabbit://").rstrip("/") + "/"
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    try:
        notifier = oslo_messaging.Notifier(
            transport,
            publisher_id="nova-conductor:oslo-test",
            driver="messagingv2",
            topics=["versioned_notifications"],
        )
        context = UnredactedContext(user_id="admin", auth_token=TOKEN)
        for index in range(count):
            payload = {"nova_object.data": {"uuid": aggregate, "host": f"h{index}", "index": index}}
            notifier.info(context, "aggregate.cache_images.progress", payload)
    finally:
        transport.cleanup()
