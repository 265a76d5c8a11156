"""Fixtures shared by every test: the local stack and unique names per test."""

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from precache.stack import StackSettings, stack_down, stack_status, stack_up


@pytest.fixture(scope="session")
def stack_settings() -> StackSettings:
    return StackSettings()


@pytest.fixture(scope="session")
def stack(stack_settings: StackSettings) -> Iterator[StackSettings]:
    """The real brokers: started when not running, and stopped again only if we started them.

    Set PRECACHE_KEEP_STACK=1 to leave brokers that the tests started running afterwards.
    """
    already_up = all(s.answering for s in stack_status(stack_settings))
    stack_up(stack_settings)
    yield stack_settings
    if not already_up and os.environ.get("PRECACHE_KEEP_STACK") != "1":
        stack_down(stack_settings)


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
