"""faust's aiokafka transport with two changes to the worker's fetch path, measured in bench/.

- **Fetch wait.** faust creates its consumer with ``fetch_max_wait_ms=1500``. aiokafka keeps one
  fetch request in flight per broker and leaves out partitions that still have records
  buffered, so while the agent works through a buffered fetch the next request asks only for
  idle partitions (ticks, say) and the broker holds it for the full wait: the agent then sits
  idle for up to 1.5 s every few thousand records (a no-op agent: 5k records/s). The wait is
  a worker setting (``fetch_max_wait_ms``).
- **Delivery.** For every record, faust's drain loop runs ``wait_first(callback(message),
  suspend_flow.wait())``: four tasks and an ``asyncio.wait`` to deliver one record into the
  stream buffer (a no-op agent: 14k records/s; 32k without it). While flow is not suspended
  the delivery is awaited directly here; when it is, faust's own path runs. A delivery that
  blocks on a full buffer while a rebalance starts is then finished rather than dropped: the
  revocation waits for the stream to process it (``stream_wait_empty``), on the partition it
  still owns.

Selected with the broker URL scheme ``precache-kafka://`` (see :func:`broker_url`).
"""

import inspect
from typing import Any

from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults

SCHEME = "precache-kafka"


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(self.app, "fetch_max_wait_ms", None)
        if wait_ms is not None:
            consumer._fetch_max_wait_ms = int(wait_ms)  # read when aiokafka starts its fetcher
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109 - mode's signature
        """The drain loop's per-record call, without four tasks per record (see module doc)."""
        if timeout is None and len(coros) == 2 and self._flowing():
            deliver, suspended = coros
            if inspect.iscoroutine(deliver) and inspect.iscoroutine(suspended):
                suspended.close()  # never awaited: it only waits for a suspension
                result = await deliver
                return WaitResults([deliver], [result], False)
        return await super().wait_first(*coros, timeout=timeout)

    def _flowing(self) -> bool:
        return not (self.suspend_flow.is_set() or self._stopped.is_set() or self._crashed.is_set())


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


drivers.TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")


def broker_url(bootstrap: str) -> str:
    """faust's broker URL for ``host:port[,host:port...]`` with this transport."""
    return f"{SCHEME}://{bootstrap}"
