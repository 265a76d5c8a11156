"""``precache.rollout.*`` CloudEvents: what rollout and keep-warm did, for others to see. One
event per request Nova accepted and per target that became ready or failed, on the topic
``PRECACHE_ROLLOUT_TOPIC`` (key ``region/aggregate uuid``, the Kafka binding of the contract),
each with the target's goal (:mod:`.series`): which retry series it belongs to.

The loop is synchronous; the producer runs on a private event loop. Kafka unreachable at the
start is exit 3 (as every command with a broker); a send that fails later is a warning line,
not a stop: Nova already took the request, the event only tells of it.
"""

import asyncio
import logging
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from precache.cache.nova import Accepted
from precache.contract.events import (
    Aggregate,
    CloudEvent,
    EventType,
    RolloutRequestData,
    RolloutRequestEvent,
    RolloutTargetData,
    RolloutTargetEvent,
    encode,
)
from precache.contract.kafka_binding import HEADERS, record_key
from precache.errors import BrokerUnreachable
from precache.kafka_connection import client_options
from precache.rollout.nova_side import Resolved
from precache.rollout.planner import Mode, Request, Verdict
from precache.rollout.settings import RolloutSettings

NAMESPACE = uuid.UUID("7d0f3a52-2f4e-4c8e-9d1b-24a0c0112024")


def _time() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _aggregate(target: Resolved) -> Aggregate:
    a = target.aggregate
    return Aggregate(uuid=target.wanted.aggregate_uuid, name=a.name, id=a.id)


def _envelope(target: Resolved, kind: EventType, identity: str) -> dict[str, object]:
    key = f"{target.wanted.key.region}/{target.wanted.aggregate_uuid}"
    return {
        "specversion": "1.0",
        "id": uuid.uuid5(NAMESPACE, f"{kind.value}|{identity}"),
        "source": f"/precache/rollout/{target.wanted.key.region}",
        "type": kind,
        "subject": key,
        "partitionkey": key,
        "time": _time(),
        "datacontenttype": "application/json",
    }


def request_event(
    mode: Mode, goal: str, target: Resolved, request: Request, accepted: Accepted
) -> RolloutRequestEvent:
    data = RolloutRequestData(
        mode=mode, goal=goal, region=target.wanted.key.region, aggregate=_aggregate(target),
        reasons=list(request.reasons), cloud=target.cloud, images=list(request.images),
        attempt=request.attempt, request_id=accepted.request_id,
        global_request_id=accepted.global_request_id, at=_time(),
    )  # fmt: skip
    envelope = _envelope(target, EventType.ROLLOUT_REQUEST, accepted.global_request_id)
    return RolloutRequestEvent.model_validate({**envelope, "data": data})


def target_event(mode: Mode, goal: str, target: Resolved, verdict: Verdict) -> RolloutTargetEvent:
    at = _time()
    data = RolloutTargetData(
        mode=mode, goal=goal, region=target.wanted.key.region, aggregate=_aggregate(target),
        reasons=list(verdict.reasons), state=verdict.state.value, images=list(verdict.short_images),
        at=at,
    )  # fmt: skip
    identity = f"{target.wanted.key}|{verdict.state.value}|{at}"
    return RolloutTargetEvent.model_validate(
        {**_envelope(target, EventType.ROLLOUT_TARGET, identity), "data": data}
    )


class EventSink:
    """A producer of the rollout topic, used from synchronous code."""

    def __init__(self, settings: RolloutSettings) -> None:
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._producer: AIOKafkaProducer | None = None

    def start(self) -> "EventSink":
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # we report Kafka ourselves
        s = self._settings

        async def started() -> AIOKafkaProducer:  # aiokafka binds to the loop it is made in
            producer = AIOKafkaProducer(
                **client_options(s), acks="all", client_id="precache-rollout"
            )
            try:
                await asyncio.wait_for(producer.start(), s.connect_timeout_s)
            except BaseException:
                await producer.stop()
                raise
            return producer

        try:
            self._producer = self._loop.run_until_complete(started())
        except (KafkaError, OSError, TimeoutError) as exc:
            self._loop.close()
            raise BrokerUnreachable(
                f"cannot reach Kafka at {s.kafka_bootstrap} (PRECACHE_KAFKA_BOOTSTRAP) to publish "
                f"the rollout events: {str(exc) or type(exc).__name__}"
            ) from exc
        return self

    def send(self, event: CloudEvent) -> str | None:
        """None when Kafka took it; else the warning to show."""
        assert self._producer is not None
        value = encode(event)
        try:
            self._loop.run_until_complete(
                asyncio.wait_for(
                    self._producer.send_and_wait(
                        self._settings.rollout_topic, value, key=record_key(event),
                        headers=list(HEADERS),
                    ),
                    self._settings.connect_timeout_s,
                )
            )  # fmt: skip
        except (KafkaError, OSError, TimeoutError) as exc:
            return f"warning: rollout event not published ({str(exc) or type(exc).__name__})"
        return None

    def close(self) -> None:
        if self._producer is not None:
            self._loop.run_until_complete(self._producer.stop())
        self._loop.close()
