"""``tests.support.kafka.read_until``: the tests' reader of derived topics returns everything
written before its condition held, on every topic it reads, not only on the topic whose record
made the condition true (records of two topics have no order between them)."""

from collections.abc import Callable

import orjson
import pytest

from precache.contract.kafka_binding import HEADERS
from tests.support.kafka import create_topic, produce, read_until
from tests.support.watch_events import host_failed

pytestmark = pytest.mark.integration


def host_failed_record(host: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    event = host_failed(host)
    return event["partitionkey"].encode(), orjson.dumps(event), list(HEADERS)


async def test_read_until_reads_every_topic_to_where_it_was_when_the_condition_held(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    """5,000 records on one topic (several fetches' worth), then one on another that makes the
    condition true: all 5,001 come back (before the fix: the reader stopped with the other
    topic's first fetches, as the fault suite's host.failed check once saw)."""
    many, last = unique_name("reader-many"), unique_name("reader-last")
    await create_topic(kafka_bootstrap, many)
    await create_topic(kafka_bootstrap, last)
    await produce(kafka_bootstrap, many, [host_failed_record(f"h{i:05d}") for i in range(5000)])
    await produce(kafka_bootstrap, last, [host_failed_record("the-last")])
    events = await read_until(
        kafka_bootstrap, [many, last], lambda ev: any(e["data"]["host"] == "the-last" for e in ev)
    )
    assert len(events) == 5001
    assert len({e["data"]["host"] for e in events}) == 5001
