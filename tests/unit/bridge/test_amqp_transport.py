"""The chunked transport's delivery fast path against py-amqp's own framing.

Frames are written by py-amqp's ``frame_writer`` (what RabbitMQ sends has the same layout) and
every result is compared with what py-amqp's own reader makes of the same bytes.
"""

from types import SimpleNamespace
from typing import Any

import amqp
import pytest
from amqp.method_framing import frame_handler, frame_writer
from amqp.serialization import dumps, loads
from amqp.spec import Basic

from precache.bridge.amqp_transport import ChunkedTCPTransport, RawDelivery

CHANNEL = 1
TAG = "precache-bridge.1"
FRAME_MAX = 4096


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: Any) -> None:
        self.data += bytes(chunk)


def _frames(*writes: tuple[int, tuple[int, int], bytes, amqp.Message | None]) -> bytes:
    sink = _Sink()
    write = frame_writer(SimpleNamespace(frame_max=FRAME_MAX, bytes_sent=0), sink)
    for channel, method, args, content in writes:
        write(1, channel, method, args, content)
    return bytes(sink.data)


def _deliver(
    body: bytes, tag: int, key: str = "versioned_notifications.info", channel: int = CHANNEL
) -> tuple[int, tuple[int, int], bytes, amqp.Message]:
    args = dumps("sLbss", (TAG, tag, False, "nova", key))
    message = amqp.Message(body, content_type="application/json", delivery_mode=2)
    return channel, Basic.Deliver, args, message


def _transport(data: bytes) -> ChunkedTCPTransport:
    transport: ChunkedTCPTransport = ChunkedTCPTransport.__new__(ChunkedTCPTransport)
    transport._read_buffer = data
    transport._pos = 0
    transport.sock = None  # any socket read would fail the test
    return transport


def _fast(data: bytes) -> tuple[list[RawDelivery], ChunkedTCPTransport]:
    transport = _transport(data)
    out = []
    while (raw := transport.next_delivery(CHANNEL, frozenset({TAG}))) is not None:
        out.append(raw)
    return out, transport


def _py_amqp(data: bytes) -> list[tuple[int, str, bytes]]:
    """What py-amqp's own reader gives for the same bytes: (tag, routing key, body)."""
    transport = _transport(data)
    seen: list[tuple[int, str, bytes]] = []

    def on_method(channel: int, method: Any, args: Any, message: Any) -> None:
        fields, _ = loads("sLbss", args, 4)
        body = message.body  # py-amqp leaves a bodyless message's body as ""
        seen.append((fields[1], fields[4], body.encode() if isinstance(body, str) else body))

    on_frame = frame_handler(SimpleNamespace(bytes_recv=0), on_method)
    while transport._pos < len(transport._read_buffer):
        on_frame(transport.read_frame())
    return seen


@pytest.mark.parametrize("size", [0, 1, 1534, FRAME_MAX * 3 + 17])
def test_deliveries_match_py_amqp(size: int) -> None:
    bodies = [bytes([65 + i]) * size for i in range(3)]
    data = _frames(*(_deliver(body, tag) for tag, body in enumerate(bodies, start=1)))
    fast, transport = _fast(data)
    assert [(d.delivery_tag, d.routing_key, d.body) for d in fast] == _py_amqp(data)
    assert [d.body for d in fast] == bodies
    assert all(d.consumer_tag == TAG and d.channel == CHANNEL for d in fast)
    assert transport._pos == len(data)


def test_a_partly_read_delivery_is_left_whole_for_later() -> None:
    data = _frames(_deliver(b"x" * (FRAME_MAX * 2), 7))
    for cut in range(len(data)):
        transport = _transport(data[:cut])
        assert transport.next_delivery(CHANNEL, frozenset({TAG})) is None, cut
        assert transport._pos == 0
    assert _fast(data)[0][0].delivery_tag == 7


def test_other_methods_channels_and_consumers_are_left_to_py_amqp() -> None:
    consume_ok = (CHANNEL, Basic.ConsumeOk, dumps("s", (TAG,)), None)
    cases = [
        _frames(consume_ok, _deliver(b"x", 1)),
        _frames(_deliver(b"x", 1, channel=CHANNEL + 1)),
    ]
    for data in cases:
        transport = _transport(data)
        assert transport.next_delivery(CHANNEL, frozenset({TAG})) is None
        assert transport._pos == 0
    transport = _transport(_frames(_deliver(b"x", 1)))
    assert transport.next_delivery(CHANNEL, frozenset({"another-consumer"})) is None
    assert transport._pos == 0


def test_frame_buffered_tells_a_whole_frame() -> None:
    data = _frames(_deliver(b"body", 1))
    method_frame = 7 + int.from_bytes(data[3:7], "big") + 1
    assert not _transport(data[: method_frame - 1]).frame_buffered()
    assert _transport(data[:method_frame]).frame_buffered()
