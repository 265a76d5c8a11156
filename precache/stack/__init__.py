"""The local stack: a real RabbitMQ and a real Apache Kafka (KRaft) run from this machine.

RabbitMQ comes from Debian's ``rabbitmq-server`` package, Kafka from Apache's jars on Maven
Central, run with the machine's Java. Nothing here is needed in production; it is what the
demo and the integration tests stand on.
"""

from precache.stack.settings import StackSettings
from precache.stack.stack import (
    BrokerStatus,
    stack_down,
    stack_status,
    stack_up,
    start_broker,
    stop_broker,
)

__all__ = [
    "BrokerStatus",
    "StackSettings",
    "stack_down",
    "stack_status",
    "stack_up",
    "start_broker",
    "stop_broker",
]
