"""``precache demo``: the README's first command.

Until the simulator, bridge and worker land, it brings the local stack up and proves a round
trip through both real brokers.
"""

import asyncio
import uuid

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kombu.connection import Connection
from kombu.entity import Queue

from precache.cli.errors import one_line_errors
from precache.stack import StackSettings, stack_up


@one_line_errors
def demo() -> None:
    """Bring the local stack up and send one message through RabbitMQ and one through Kafka."""
    settings = StackSettings()
    for status in stack_up(settings):
        typer.echo(f"{status.name}: answering on {status.address} (pid {status.pid})")
    name = f"precache-demo-{uuid.uuid4().hex[:8]}"
    with Connection(settings.amqp_url) as conn:
        queue = Queue(name, auto_delete=True)
        with conn.Producer() as producer:
            producer.publish({"demo": name}, routing_key=name, declare=[queue])
        message = conn.SimpleQueue(queue).get(timeout=10)
        message.ack()
    typer.echo(f"rabbitmq: published and consumed {message.payload}")
    value = asyncio.run(_kafka_round_trip(settings.kafka_bootstrap, name))
    typer.echo(f"kafka: produced (acks=all) and consumed {value!r} on topic {name}")


async def _kafka_round_trip(bootstrap: str, topic: str) -> bytes:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, topic.encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    return bytes(record.value)
