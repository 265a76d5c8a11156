"""BatchSender: a partition with a batch in flight collects the next shipments into one batch."""

import asyncio
from typing import Any

from aiokafka.errors import KafkaConnectionError

from bridge.metrics import BridgeMetrics
from bridge.records import Delivery, Record
from bridge.sender import BatchSender, Shipment
from bridge.settings import BridgeSettings


class _Batch:
    def __init__(self, room: int) -> None:
        self.values: list[bytes] = []
        self.room = room

    def append(self, **record: Any) -> object | None:
        if len(self.values) >= self.room:
            return None
        self.values.append(record["value"])
        return object()


class _Sink:
    """Kafka as far as the sender sees it: each batch's future is resolved by the test."""

    def __init__(self, room: int = 100) -> None:
        self.room = room
        self.sent: list[tuple[list[bytes], asyncio.Future[Any]]] = []

    def create_batch(self) -> _Batch:
        return _Batch(self.room)

    async def send_batch(self, batch: _Batch, topic: str, partition: int) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append((batch.values, future))
        return future


def _shipment(*values: bytes, epoch: int = 1) -> Shipment:
    items = [(Delivery(i, v, "rk"), Record("t", v, None, [])) for i, v in enumerate(values)]
    return Shipment(epoch, "t", 0, items)


def _sender(sink: _Sink, acked: list[bytes]) -> BatchSender:
    def on_sent(shipment: Shipment) -> None:
        acked.extend(record.value for _, record in shipment.items)

    settings = BridgeSettings(retry_backoff_max_s=0.01)
    return BatchSender(settings, sink, BridgeMetrics(), on_sent, lambda epoch: True)  # type: ignore[arg-type]


def test_shipments_during_a_round_trip_go_as_one_batch_in_order() -> None:
    async def scenario() -> None:
        sink, acked = _Sink(), list[bytes]()
        sender = _sender(sink, acked)
        await sender.send(_shipment(b"a"))
        await sender.send(_shipment(b"b", b"c"))  # "a" is in flight: these wait together
        await sender.send(_shipment(b"d"))
        assert [values for values, _ in sink.sent] == [[b"a"]]
        sink.sent[0][1].set_result(None)
        await asyncio.sleep(0)  # the open batch goes as "a" lands
        await asyncio.sleep(0)
        assert [values for values, _ in sink.sent] == [[b"a"], [b"b", b"c", b"d"]]
        sink.sent[1][1].set_result(None)
        await asyncio.sleep(0)
        assert acked == [b"a", b"b", b"c", b"d"]

    asyncio.run(scenario())


def test_a_full_open_batch_goes_at_once_and_a_failed_one_is_retried_whole() -> None:
    async def scenario() -> None:
        sink, acked = _Sink(room=2), list[bytes]()
        sender = _sender(sink, acked)
        await sender.send(_shipment(b"a"))
        await sender.send(_shipment(b"b", b"c", b"d"))  # room for 2: "b", "c" go at once
        assert [values for values, _ in sink.sent] == [[b"a"], [b"b", b"c"]]
        sink.sent[0][1].set_exception(KafkaConnectionError())
        sink.sent[1][1].set_result(None)
        for _ in range(50):  # retry backoff (0.01 s) and the open "d"
            await asyncio.sleep(0.005)
            for _, future in sink.sent[2:]:
                if not future.done():
                    future.set_result(None)
        assert sorted(acked) == [b"a", b"b", b"c", b"d"]
        assert [b"a"] in [values for values, _ in sink.sent[2:]]  # "a" was sent again

    asyncio.run(scenario())
