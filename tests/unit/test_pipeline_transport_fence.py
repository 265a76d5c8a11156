"""Fence around the faust internals that ``pipeline.kafka_transport`` overrides.

The transport changes how faust's consumer fetches and resumes partitions (see its module doc:
each override fixed a measured loss or cost). These tests read faust's own code and fail when
what the overrides rely on changes, so that a faust upgrade is looked at before it is trusted.
"""

import inspect
import re

import faust
from faust.tables.recovery import Recovery
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from precache.pipeline.kafka_transport import Consumer, ConsumerThread

OVERRIDDEN = [
    "_getmany",
    "_set_active_tps",
    "resume_partitions",
    "pause_partitions",
    "stop_flow",
    "seek_to_committed",
    "resume_flow",
    "wait_first",
]


def test_faust_is_the_version_the_overrides_were_measured_on() -> None:
    assert faust.__version__.startswith("0.15."), faust.__version__


def test_every_overridden_method_exists_in_faust_with_our_signature() -> None:
    for name in OVERRIDDEN:
        ours = inspect.signature(getattr(Consumer, name))
        theirs = inspect.signature(getattr(faust_aiokafka.Consumer, name))
        assert list(ours.parameters) == list(theirs.parameters), name
    assert hasattr(faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer")


def test_recovery_clears_the_buffers_between_the_seek_and_resume_flow() -> None:
    """The held partitions become fetchable in ``resume_flow``: correct only while faust seeks,
    then clears the stream buffers, then resumes the flow, in this order."""
    source = inspect.getsource(Recovery._resume_streams)
    steps = [
        "consumer.resume_partitions(",
        "consumer.perform_seek()",
        "app.flow_control.resume()",
        "consumer.resume_flow()",
    ]
    positions = [source.find(step) for step in steps]
    assert -1 not in positions, dict(zip(steps, positions, strict=True))
    assert positions == sorted(positions)


def test_faust_fetches_with_the_active_set_it_checked_and_drops_inactive_records() -> None:
    source = inspect.getsource(faust_consumer.Consumer._wait_next_records)
    assert "active_partitions = self._get_active_partitions()" in source
    assert re.search(r"self\._getmany\(\s*active_partitions=active_partitions", source)
    getmany = inspect.getsource(faust_consumer.Consumer.getmany)
    assert "tp in active_partitions" in getmany


def test_the_drain_loop_calls_wait_first_with_the_delivery_and_the_suspension() -> None:
    """``Consumer.wait_first`` awaits the delivery directly for this exact call shape."""
    source = inspect.getsource(faust_consumer.Consumer._drain_messages)
    assert re.search(
        r"self\.wait_first\(\s*callback\(message\),\s*self\.suspend_flow\.wait\(\)", source
    )


def test_our_consumer_thread_is_the_one_faust_creates() -> None:
    assert Consumer._new_consumer_thread is not faust_aiokafka.Consumer._new_consumer_thread
    assert issubclass(ConsumerThread, faust_aiokafka.AIOKafkaConsumerThread)
