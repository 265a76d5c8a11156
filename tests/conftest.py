"""Fixtures shared by every test: the local stack and unique names per test."""

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from precache.stack import StackSettings, stack_down, stack_status, stack_up


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    """The real brokers.

    A running stack (a developer's `precache stack up`) is reused as it is. Otherwise one is
    started from an empty state folder of this session, so that no earlier run's test topics
    (thousands of partitions after a while) slow Kafka down, and stopped at the end. With
    PRECACHE_KEEP_STACK=1 it is started in the usual state folder and left running.
    """
    settings = StackSettings()
    if all(s.answering for s in stack_status(settings)):
        yield settings
        return
    keep = os.environ.get("PRECACHE_KEEP_STACK") == "1"
    if not keep:
        fresh = tmp_path_factory.mktemp("stack")
        settings = settings.model_copy(update={"state_dir": fresh})
    stack_up(settings)
    yield settings
    if not keep:
        stack_down(settings)


@pytest.fixture
def amqp_url(stack: StackSettings) -> str:
    return stack.amqp_url


@pytest.fixture
def kafka_bootstrap(stack: StackSettings) -> str:
    return stack.kafka_bootstrap


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Names for queues, topics and consumer groups that no other test (or run) shares."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


@pytest.fixture(scope="session")
def secure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    """The secure stack (``stack up --secure``: RabbitMQ TLS only, Kafka SASL_SSL only) on its
    own ports (``PRECACHE_STACK_AMQPS_PORT``, ``..._KAFKA_SASL_PORT``,
    ``..._KAFKA_SASL_CONTROLLER_PORT``), beside the plain one; reused if already running."""
    settings = StackSettings().secured()
    if all(s.answering for s in stack_status(settings)):
        yield settings
        return
    settings = settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("secure")})
    stack_up(settings)
    yield settings
    stack_down(settings)
