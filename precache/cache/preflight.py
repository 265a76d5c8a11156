"""Before Nova is asked: Kafka answers, the pipeline's derived topics exist, a worker runs.

Missing topics stop the command (exit 3): no worker ever ran, so nothing would ever report the
operation. A worker that does not run now only warns: the operation is followed once one
starts, since the raw topic keeps Nova's notifications.
"""

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from precache.cache.errors import PipelineMissing
from precache.errors import BrokerUnreachable
from precache.kafka_connection import client_options
from precache.kafka_refusal import raise_if_refused
from precache.watch.settings import WatchSettings


async def check_pipeline(settings: WatchSettings, worker_group: str) -> list[str]:
    """Raises when the operation could not be followed; returns warnings otherwise."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # we report Kafka ourselves
    admin = AIOKafkaAdminClient(
        **client_options(settings),
        request_timeout_ms=int(settings.connect_timeout_s * 1000),
        client_id="precache-cache",
    )
    try:
        await asyncio.wait_for(admin.start(), settings.connect_timeout_s)
        topics = set(await asyncio.wait_for(admin.list_topics(), settings.connect_timeout_s))
    except (KafkaError, OSError, TimeoutError) as exc:
        await admin.close()
        await raise_if_refused(settings, settings.connect_timeout_s, exc)
        raise BrokerUnreachable(
            f"cannot reach Kafka at {settings.kafka_bootstrap} "
            f"(--kafka / PRECACHE_KAFKA_BOOTSTRAP): {str(exc) or type(exc).__name__}"
        ) from exc
    try:
        derived = [
            settings.status_topic,
            settings.completed_topic,
            settings.host_failed_topic,
            settings.stalled_topic,
        ]
        missing = [t for t in derived if t not in topics]
        if missing:
            raise PipelineMissing(
                f"Kafka at {settings.kafka_bootstrap} has no topic {', '.join(missing)}: start "
                "the pipeline (`precache worker`, which creates them) and the region's "
                "`precache bridge` first"
            )
        if not await _group_has_members(admin, worker_group, settings.connect_timeout_s):
            return [
                f"warning: no precache worker seems to run (consumer group {worker_group!r} "
                "has no members): start `precache worker`; the operation is followed once "
                "it does"
            ]
        return []
    finally:
        await admin.close()


async def _group_has_members(admin: AIOKafkaAdminClient, group: str, timeout_s: float) -> bool:
    """True unless Kafka says the group has no members; an answer we cannot read is a yes."""
    try:
        responses = await asyncio.wait_for(admin.describe_consumer_groups([group]), timeout_s)
        described = [g for r in responses for g in r.groups]
        return any(len(g[5]) > 0 for g in described)
    except (KafkaError, OSError, TimeoutError, IndexError, TypeError):
        return True
