"""The single place where the faust app, its topics and tables are wired together.

Settings chosen against faust-streaming's open reports (see README, "Pipeline"):

- one agent, ``concurrency=1``: with more actors faust can commit an offset past an event that
  is still in flight (faust-streaming#606, robinhood/faust#682);
- ``processing_guarantee="at_least_once"``: state is idempotent under redelivery (see
  :mod:`pipeline.operation`); no transactions, so changelog recovery never waits on
  transaction markers;
- faust flushes its producer before committing offsets, but a send that fails is only logged
  (``Topic._on_published``), so the agent awaits every event and every changelog write of a
  batch itself (:class:`~pipeline.store.TrackedTable`) before returning; a failure there stops
  the worker before the batch is acked (see :mod:`pipeline.agents`);
- ``producer_max_request_size`` covers a dead letter of the largest raw record; our own
  records are bounded far below it (``WorkerSettings.max_event_bytes``, ``state_chunk_bytes``).
"""

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faust.types import TP

from precache.kafka_connection import client_options, faust_credentials
from precache.pipeline import (
    agents,
    dashboard,
    inventory_agent,
    inventory_web,
    metrics_view,
    rollout_agent,
    rollout_web,
    web,
)
from precache.pipeline.context import Pipeline
from precache.pipeline.gaps import GapGuard
from precache.pipeline.inventory_agent import Inventory
from precache.pipeline.inventory_store import InventoryStore
from precache.pipeline.kafka_transport import (
    SkipState,
    TransportOptions,
    WorkerApp,
    broker_url,
)
from precache.pipeline.operation import Limits
from precache.pipeline.ownership import GroupOwnership
from precache.pipeline.rollout_agent import Rollouts
from precache.pipeline.rollout_store import RolloutStore
from precache.pipeline.settings import WorkerSettings
from precache.pipeline.store import TableStore, TrackedTable


def faust_app(settings: WorkerSettings, skips: SkipState | None = None) -> WorkerApp:
    """The worker's faust app; ``skips`` is shared with whoever else needs to know what the
    consumer dropped (the gap guard, ``/stats``)."""
    store = "memory://" if settings.store == "memory" else "rocksdb://"
    options = TransportOptions(
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        skips=skips if skips is not None else SkipState(settings.raw_topic),
    )
    return WorkerApp(
        settings.app_id,
        transport_options=options,
        broker=broker_url(settings.kafka_bootstrap),
        broker_credentials=faust_credentials(settings),
        store=store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.raw_partitions,
        topic_replication_factor=settings.topic_replication,
        table_standby_replicas=settings.standby_replicas,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.commit_interval_s,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        web_enabled=True,
        # faust's own pages are off: only pipeline.web's routes are served (see there)
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        web_bind=settings.web_bind,
        web_host=settings.web_host,
        web_port=settings.web_port,
        canonical_url=f"http://{settings.web_host}:{settings.web_port}",
        producer_linger_ms=0,  # the agent sends a batch at once and awaits it: nothing to wait for
        producer_max_request_size=settings.producer_max_request_size,
        producer_max_batch_size=settings.producer_batch_bytes,  # RecordBatches' batches too
        Table=TrackedTable,
        stream_buffer_maxsize=65536,
        autodiscover=False,
        key_serializer="json",  # tables; topics below are raw bytes
        value_serializer="json",
    )


def build(settings: WorkerSettings) -> Pipeline:
    """Create the app with its topics and tables; agents and views are attached here too."""
    skips = SkipState(settings.raw_topic)
    app = faust_app(settings, skips)
    n = settings.raw_partitions

    async def fetch(partition: int, start: int, end: int) -> list[Any]:
        return await read_range(settings, partition, start, end)

    async def committed() -> dict[int, int]:
        return await committed_offsets(settings)

    def skipped(partition: int, offset: int) -> int | None:
        return skips.skipped_before(TP(settings.raw_topic, partition), offset)

    def out(*names: str) -> Any:
        return app.topic(*names, partitions=n, key_serializer="raw", value_serializer="raw")

    dlq = out(settings.pipeline_dlq_topic)
    table = app.Table("operations", partitions=n)
    ownership = GroupOwnership(app)
    assert isinstance(table, TrackedTable)  # the app's Table class (faust_app)
    pipeline = Pipeline(
        settings=settings,
        app=app,
        inputs=out(settings.raw_topic, settings.ticks_topic),
        ticks=out(settings.ticks_topic),
        outputs={
            "status": out(settings.status_topic),
            "completed": out(settings.completed_topic),
            "host_failed": out(settings.host_failed_topic),
            "stalled": out(settings.stalled_topic),
        },
        dlq=dlq,
        store=TableStore(table, settings.state_chunk_bytes, pending=table.take_pending),
        skips=skips,
        ownership=ownership,
        limits=limits(settings),
        gaps=GapGuard(fetch, committed, skipped),
        inventory=Inventory(  # pipeline.inventory_agent
            topic=out(settings.inventory_topic),
            events=app.topic(
                settings.image_cache_topic, key_serializer="raw", value_serializer="raw"
            ),
            dlq=dlq,
            store=InventoryStore(app.Table("inventory", partitions=n), settings.state_chunk_bytes),
            policy=settings.image_policy,
            partitions=n,
            confirm_timeout_s=settings.confirm_timeout_s,
            ownership=ownership,
        ),
        rollouts=Rollouts(  # pipeline.rollout_agent: GET /rollouts
            topic=out(settings.rollout_topic),
            dlq=dlq,
            store=RolloutStore(app.Table("rollouts", partitions=n)),
            confirm_timeout_s=settings.confirm_timeout_s,
            ownership=ownership,
        ),
    )

    async def on_rebalance(*args: Any, **kwargs: Any) -> None:
        pipeline.store.forget_index()
        pipeline.gaps.reset()
        pipeline.metrics.forget_positions()
        if pipeline.inventory is not None:  # its indexes too
            pipeline.inventory.store.forget_index()
        if pipeline.rollouts is not None:
            pipeline.rollouts.store.forget_index()

    inventory_table = pipeline.inventory.store.table if pipeline.inventory else None
    if inventory_table is not None:

        async def on_inventory_recovered() -> None:
            assert pipeline.inventory is not None
            pipeline.inventory.store.recovered()

        inventory_table.on_recover(on_inventory_recovered)

    if pipeline.rollouts is not None:

        async def on_rollouts_recovered() -> None:
            assert pipeline.rollouts is not None
            pipeline.rollouts.store.recovered()

        pipeline.rollouts.store.table.on_recover(on_rollouts_recovered)

    app.on_partitions_assigned.connect(on_rebalance)
    app.on_partitions_revoked.connect(on_rebalance)
    agents.attach(pipeline)
    assert pipeline.inventory is not None
    inventory_agent.attach(app, pipeline.inventory)
    web.attach(pipeline)
    inventory_web.attach(pipeline, pipeline.inventory)
    assert pipeline.rollouts is not None
    rollout_agent.attach(app, pipeline.rollouts)
    rollout_web.attach(pipeline, pipeline.rollouts)
    metrics_view.attach(pipeline)
    dashboard.attach(pipeline)
    return pipeline


def limits(settings: WorkerSettings) -> Limits:
    return Limits(
        grace_period_s=settings.grace_period_s,
        stall_after_s=settings.stall_after_s,
        failed_hosts_cap=settings.failed_hosts_cap,
        retention_s=settings.retention_s,
        list_bytes=settings.list_bytes,
        chunk_bytes=settings.state_chunk_bytes,
        event_bytes=settings.max_event_bytes,
        clock_skew_s=settings.max_clock_skew_s,
    )


async def committed_offsets(settings: WorkerSettings) -> dict[int, int]:
    """The group's committed offsets on the raw topic (partition -> next offset to read); a
    partition the group never committed starts at its first offset (``earliest``), so the
    gap guard also sees records skipped before the first commit."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.app_id)
    finally:
        await admin.close()
    committed = {
        tp.partition: meta.offset
        for tp, meta in offsets.items()
        if tp.topic == settings.raw_topic and meta.offset >= 0
    }
    fresh = [
        TopicPartition(settings.raw_topic, p)
        for p in range(settings.raw_partitions)
        if p not in committed
    ]
    if fresh:
        consumer = AIOKafkaConsumer(**client_options(settings))
        await consumer.start()
        try:
            for tp, offset in (await consumer.beginning_offsets(fresh)).items():
                committed[tp.partition] = offset
        finally:
            await consumer.stop()
    return committed


async def read_range(settings: WorkerSettings, partition: int, start: int, end: int) -> list[Any]:
    """Records ``[start, end)`` of one raw partition, read with a plain consumer (no group)."""
    tp = TopicPartition(settings.raw_topic, partition)
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    out: list[Any] = []
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        while (await consumer.position(tp)) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            out.extend(r for r in batch.get(tp, []) if r.offset < end)
    finally:
        await consumer.stop()
    return out
