"""The bridge's chunked AMQP reader over TLS (in-memory TLS on the plain socket) on the secure
RabbitMQ: bodies from one byte to several TLS records each arrive whole and in order."""

import os
from collections.abc import Callable

import pytest
from kombu.connection import Connection

from precache.amqp_connection import kombu_options
from precache.bridge.amqp_transport import ChunkedSSLTransport, KombuTransport
from precache.stack import StackSettings
from precache.stack.clients import amqp_connection

pytestmark = pytest.mark.integration


def test_chunked_tls_reader_delivers_every_body_whole(
    secure_stack: StackSettings, unique_name: Callable[[str], str]
) -> None:
    options = kombu_options(amqp_connection(secure_stack))
    queue = unique_name("tls-reader")
    sizes = [1, 1_000, 16_384, 16_385, 100_000, 3 * 1024 * 1024] * 3
    sent = [os.urandom(n) for n in sizes]
    with Connection(**options, transport=KombuTransport) as conn:
        conn.connect()
        assert isinstance(conn.connection.transport, ChunkedSSLTransport)
        channel = conn.channel()
        channel.queue_declare(queue, auto_delete=True)
        for body in sent:
            channel.basic_publish(channel.prepare_message(body), routing_key=queue)
        received: list[bytes] = []
        channel.basic_consume(queue, callback=lambda m: received.append(m.body), no_ack=True)
        while len(received) < len(sent):
            conn.drain_events(timeout=20)
        channel.queue_delete(queue)
    assert [len(b) for b in received] == sizes
    assert received == sent
