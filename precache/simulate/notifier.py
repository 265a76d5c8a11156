"""oslo.messaging's own Notifier, pointed at one RabbitMQ with Nova's exchange and topic."""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from oslo_config import cfg
from oslo_context.context import RequestContext

with warnings.catch_warnings():
    # oslo.messaging's import chain (oslo.service, oslo.utils) warns that eventlet and its
    # helpers are deprecated; we use neither eventlet nor its executors.
    warnings.simplefilter("ignore")
    import oslo_messaging

from precache.amqp_connection import oslo_transport_url as oslo_transport_url  # re-exported
from precache.simulate.broker import check_broker
from precache.simulate.settings import SimulateSettings


@contextmanager
def nova_notifier(settings: SimulateSettings) -> Iterator[Any]:
    """A messagingv2 Notifier on Nova's control exchange; the transport is closed on exit.

    The broker is checked first (:func:`check_broker`), and the Notifier gives a notification
    up after ``publish_retries`` reconnects instead of retrying for ever.
    """
    check_broker(settings)
    oslo_messaging.set_transport_defaults(control_exchange=settings.control_exchange)
    conf = cfg.ConfigOpts()
    conf([], project="precache-simulate", default_config_files=[], default_config_dirs=[])
    url = oslo_transport_url(settings)
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    try:
        yield oslo_messaging.Notifier(
            transport,
            publisher_id=f"nova-conductor:{settings.conductor_host}",
            driver="messagingv2",
            topics=[settings.notification_topic],
            retry=settings.publish_retries,
        )
    finally:
        transport.cleanup()


def nova_context(
    request_id: str, *, global_request_id: str | None = None, auth_token: str | None = None
) -> RequestContext:
    """A request context like Nova's; the Notifier turns it into ``_context_*`` keys
    (``_context_request_id``, ``_context_global_request_id``, ...).

    With ``auth_token`` the context keeps it when redacted, as oslo.messaging before 14.4 did:
    that is how a leaked token reaches the bus, and what the bridge must scrub.
    """
    cls = _LeakyContext if auth_token else RequestContext
    return cls(
        request_id=request_id,
        global_request_id=global_request_id,
        user_id="admin",
        project_id="admin",
        is_admin=True,
        roles=["admin"],
        auth_token=auth_token,
        user_name="admin",
        project_name="admin",
    )


class _LeakyContext(RequestContext):
    def redacted_copy(self, **kwargs: Any) -> "_LeakyContext":
        return self
