"""Emit image pre-cache operations into RabbitMQ the way Nova's conductor does.

Notifications go through oslo.messaging's own Notifier (driver messagingv2, control exchange
``nova``), so the bytes on the wire are Nova's, not a hand-built imitation. The demo, the
end-to-end tests and the benchmarks all use this. ``precache.simulate.conductor`` (which loads
oslo.messaging, slowly) is imported only by what sends.
"""

from precache.simulate.plan import HostOutcome, SimulationPlan, parse_host_ranges
from precache.simulate.settings import SimulateSettings

__all__ = [
    "HostOutcome",
    "SimulateSettings",
    "SimulationPlan",
    "parse_host_ranges",
]
