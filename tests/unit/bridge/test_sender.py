"""BatchSender: a partition with a batch in flight collects the next shipments into one batch;
a failed batch is reported (the service replaces the producer), never retried here."""

import asyncio
from typing import Any

from aiokafka.errors import KafkaConnectionError

from precache.bridge.records import Delivery, Record
from precache.bridge.sender import BatchSender, Shipment


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


def _shipment(*values: bytes, epoch: int = 1, alone: bool = False) -> Shipment:
    items = [(Delivery(i, v, "rk"), Record("t", v, None, [])) for i, v in enumerate(values)]
    return Shipment(epoch, "t", 0, items, alone)


class _Outcome:
    def __init__(self) -> None:
        self.acked: list[bytes] = []
        self.failed: list[tuple[int, list[bytes], BaseException]] = []

    def sender(self, sink: _Sink, generation: int = 7) -> BatchSender:
        return BatchSender(sink, generation, self.on_sent, self.on_failed)  # type: ignore[arg-type]

    def on_sent(self, shipment: Shipment) -> None:
        self.acked.extend(record.value for _, record in shipment.items)

    def on_failed(self, generation: int, shipments: list[Shipment], exc: BaseException) -> None:
        values = [record.value for s in shipments for _, record in s.items]
        self.failed.append((generation, values, exc))


def test_shipments_during_a_round_trip_go_as_one_batch_in_order() -> None:
    async def scenario() -> None:
        sink, out = _Sink(), _Outcome()
        sender = out.sender(sink)
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
        assert out.acked == [b"a", b"b", b"c", b"d"]

    asyncio.run(scenario())


def test_a_failed_batch_is_reported_whole_with_its_generation_and_not_retried() -> None:
    async def scenario() -> None:
        sink, out = _Sink(room=2), _Outcome()
        sender = out.sender(sink, generation=3)
        await sender.send(_shipment(b"a"))
        await sender.send(_shipment(b"b", b"c", b"d"))  # room for 2: "b", "c" go at once
        assert [values for values, _ in sink.sent] == [[b"a"], [b"b", b"c"]]
        error = KafkaConnectionError()
        sink.sent[0][1].set_exception(error)
        sink.sent[1][1].set_result(None)
        await asyncio.sleep(0.01)
        assert out.failed == [(3, [b"a"], error)]
        assert out.acked == [b"b", b"c"]
        assert [values for values, _ in sink.sent] == [[b"a"], [b"b", b"c"], [b"d"]]

    asyncio.run(scenario())


def test_a_retired_sender_sends_nothing_more_but_reports_what_lands() -> None:
    async def scenario() -> None:
        sink, out = _Sink(), _Outcome()
        sender = out.sender(sink)
        await sender.send(_shipment(b"a"))
        await sender.send(_shipment(b"b"))  # open, waits for "a"
        sender.retire()
        await sender.send(_shipment(b"c"))
        sink.sent[0][1].set_result(None)
        await asyncio.sleep(0.01)
        assert [values for values, _ in sink.sent] == [[b"a"]]
        assert out.acked == [b"a"]

    asyncio.run(scenario())


def test_alone_sends_each_record_in_a_batch_of_its_own_in_order() -> None:
    async def scenario() -> None:
        sink, out = _Sink(), _Outcome()
        sender = out.sender(sink)
        await sender.send(_shipment(b"a", b"b", b"c", alone=True))
        assert [values for values, _ in sink.sent] == [[b"a"], [b"b"], [b"c"]]

    asyncio.run(scenario())
