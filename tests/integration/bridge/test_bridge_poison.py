"""No body stops the bridge, and no secret gets past it (issue 19, items 1 and 2).

A 996-byte body of 498 nested brackets used to kill the bridge: orjson parsed it, it became a
``not_envelope`` dead letter, and scrubbing the dead letter recursed into ``RecursionError``;
unacked, it came back after every restart. Here every shape that has broken a JSON parser or
walker goes through the real bridge on the real brokers, followed by a real Nova operation
that must complete at the worker.
"""

import asyncio
import json
import os
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

import orjson
import pytest

from precache.bridge.scrub import SecretRule
from precache.pipeline.settings import WorkerSettings
from tests.support.amqp import publish, queue_counts
from tests.support.bridge import SettingsFactory, running_bridge, sample
from tests.support.chain import bridge_for
from tests.support.kafka import completed_ids, of_type, read_topic, read_until
from tests.support.messages import envelope, notification
from tests.support.nova_samples import conductor_envelopes
from tests.support.oslo import TOKEN
from tests.support.shapes import shapes
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("PRECACHE_FUZZ_SEED", "20261206"))


async def test_every_json_shape_is_forwarded_or_dead_lettered_and_the_next_operation_completes(
    worker_settings: Callable[..., Awaitable[WorkerSettings]],
    start_worker: Callable[[WorkerSettings], WorkerProcess],
    amqp_url: str,
) -> None:
    worker = await worker_settings()
    process = start_worker(worker)
    settings = bridge_for(worker, amqp_url, uuid.uuid4().hex[:8])
    drawn = list(shapes(SEED))
    operation = conductor_envelopes()
    async with running_bridge(settings) as bridge:
        await asyncio.to_thread(publish, amqp_url, settings.exchange, [s.body for s in drawn])
        await asyncio.to_thread(
            publish, amqp_url, settings.exchange, [orjson.dumps(e) for e in operation]
        )
        events = await read_until(
            worker.kafka_bootstrap,
            [worker.completed_topic],
            lambda ev: bool(completed_ids(ev)),
            wait_s=180,
        )
        total = len(drawn) + len(operation)
        raw = await read_topic(worker.kafka_bootstrap, worker.raw_topic, lambda r: False, 5)
        dlq = await read_topic(
            worker.kafka_bootstrap, settings.dlq_topic, lambda r: len(r) + len(raw) >= total
        )
        received = sample(bridge, "precache_bridge_received_total")
        ready, _ = queue_counts(amqp_url, settings.queue)
    process.wait_ready()
    assert received == total
    assert len(raw) + len(dlq) == total  # each one forwarded or dead-lettered, once
    assert ready == 0  # and acked
    reasons = [dict(r.headers)["reason"].decode() for r in dlq]
    print(f"{len(drawn)} shapes + {len(operation)} Nova notifications: {len(raw)} forwarded,")
    print(f"dead letters by reason: {dict(sorted(Counter(reasons).items()))}")
    assert "bridge_error" not in reasons  # every shape has a reason of its own
    assert all(TOKEN.encode() not in r.value for r in raw + dlq)
    assert TOKEN[:40].encode() not in b"".join(v for r in raw + dlq for _, v in r.headers)
    (completed,) = of_type(events, "operation.completed")
    assert completed["data"]["hosts_total"] == 12
    assert process.proc is not None
    assert process.proc.poll() is None
    assert {"too_deep", "not_envelope", "not_json", "not_utf8", "too_large"} <= set(reasons)


async def test_498_nested_brackets_are_a_dead_letter_and_the_bridge_goes_on(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    """The body of the report: the bridge exited 1 with a 5,900-line traceback."""
    settings = bridge_settings()
    poison = b"[" * 498 + b"]" * 498
    after = notification(str(uuid.uuid4()), 1)
    async with running_bridge(settings):
        await asyncio.to_thread(publish, amqp_url, settings.exchange, [poison, envelope(after)])
        raw = await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 1)
        [dead] = await read_topic(kafka_bootstrap, settings.dlq_topic, lambda r: len(r) >= 1)
    assert dict(raw[0].headers)["message_id"] == after["message_id"].encode()
    assert dict(dead.headers)["reason"] == b"not_envelope"
    assert dead.value == poison
    assert queue_counts(amqp_url, settings.queue)[0] == 0


async def test_a_scrubber_that_fails_on_a_body_still_dead_letters_it_scrubbed(
    bridge_settings: SettingsFactory,
    amqp_url: str,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last line of defence: whatever the next walker bug is, it costs one dead letter
    (cut at the first secret), not the region. The scrubber is made to fail the way the old
    one did on deep nesting."""

    def fails(self: SecretRule, body: bytes) -> tuple[bytes, str]:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(SecretRule, "dead_letter", fails)
    settings = bridge_settings()
    body = b'{"note": "not a notification", "password": "hunter2", "_context_auth_token": "'
    body += TOKEN.encode() + b'"}'
    after = notification(str(uuid.uuid4()), 1)
    async with running_bridge(settings):
        await asyncio.to_thread(publish, amqp_url, settings.exchange, [body, envelope(after)])
        raw = await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 1)
        [dead] = await read_topic(kafka_bootstrap, settings.dlq_topic, lambda r: len(r) >= 1)
    assert dict(raw[0].headers)["message_id"] == after["message_id"].encode()
    assert dict(dead.headers)["reason"] == b"not_envelope"
    assert dict(dead.headers)["scrubbed"] == b"cut"
    assert b"hunter2" not in dead.value
    assert TOKEN.encode() not in dead.value


async def test_a_token_given_twice_with_null_last_is_not_forwarded(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    """orjson keeps the last of duplicate keys (null): the bridge took the "nothing secret,
    forward byte for byte" path and the token reached Kafka and the worker's changelog."""
    settings = bridge_settings()
    message_id = str(uuid.uuid4())
    inner = (
        f'{{"message_id": "{message_id}", "event_type": "aggregate.cache_images.progress", '
        f'"_context_auth_token": "{TOKEN}", "payload": {{}}, "_context_auth_token": null}}'
    )
    async with running_bridge(settings):
        await asyncio.to_thread(
            publish,
            amqp_url,
            settings.exchange,
            [json.dumps({"oslo.version": "2.0", "oslo.message": inner}).encode()],
        )
        [record] = await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 1)
    assert TOKEN.encode() not in record.value
    assert json.loads(record.value) == {
        "message_id": message_id,
        "event_type": "aggregate.cache_images.progress",
        "payload": {},
        "_context_auth_token": None,
    }


async def test_free_text_credentials_in_a_body_that_is_not_json_are_masked(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str
) -> None:
    settings = bridge_settings()
    bodies = [
        b"login failed for nova: password=hunter2 token=abc123def (retrying)",
        b"POST /v3/auth HTTP/1.1\r\nAuthorization: Basic bm92YTpodW50ZXIy\r\nHost: keystone\r\n",
        b"cannot reach amqp://nova:s3cret-pw@rabbit-1:5672/ (refused)",
    ]
    async with running_bridge(settings):
        await asyncio.to_thread(publish, amqp_url, settings.exchange, bodies)
        dlq = await read_topic(kafka_bootstrap, settings.dlq_topic, lambda r: len(r) >= 3)
    values = sorted(r.value for r in dlq)
    assert values == sorted(
        [
            b"login failed for nova: password=<redacted> token=<redacted> (retrying)",
            b"POST /v3/auth HTTP/1.1\r\nAuthorization: <redacted>\r\nHost: keystone\r\n",
            b"cannot reach amqp://nova:<redacted>@rabbit-1:5672/ (refused)",
        ]
    )
    assert {dict(r.headers)["scrubbed"] for r in dlq} == {b"masked"}
    assert {dict(r.headers)["reason"] for r in dlq} == {b"not_json"}


@pytest.mark.parametrize("version", ["3.0", "2.1", "1.0", None, 2.0])
async def test_an_envelope_version_oslo_would_refuse_is_a_dead_letter(
    bridge_settings: SettingsFactory, amqp_url: str, kafka_bootstrap: str, version: object
) -> None:
    """It was unwrapped as if it were 2.0; oslo.messaging's own consumer refuses it
    (UnsupportedRpcEnvelopeVersion): a new envelope format is not guessed at."""
    settings = bridge_settings()
    message = notification(str(uuid.uuid4()), 1)
    body = orjson.dumps({"oslo.version": version, "oslo.message": orjson.dumps(message).decode()})
    good = notification(str(uuid.uuid4()), 2)
    async with running_bridge(settings):
        await asyncio.to_thread(publish, amqp_url, settings.exchange, [body, envelope(good)])
        raw = await read_topic(kafka_bootstrap, settings.raw_topic, lambda r: len(r) >= 1)
        [dead] = await read_topic(kafka_bootstrap, settings.dlq_topic, lambda r: len(r) >= 1)
    assert [dict(r.headers)["message_id"] for r in raw] == [good["message_id"].encode()]
    assert dict(dead.headers)["reason"] == b"unknown_oslo_version"
    assert dead.value == body
