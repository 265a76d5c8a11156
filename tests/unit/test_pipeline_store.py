"""TableStore over a plain dict (faust tables are mappings): chunking and the open index."""

from pipeline import engine
from pipeline.operation import Limits
from pipeline.store import EXPECTED_CHUNK, TableStore
from pipeline.synthetic import SyntheticOperation, hostnames
from tests.unit.test_pipeline_operation import notification


def test_expected_hosts_are_chunked_and_read_back_in_order():
    table: dict[str, object] = {}
    store = TableStore(table)
    hosts = hostnames(2 * EXPECTED_CHUNK + 5)
    store.put_expected("r/op", hosts)
    assert store.get_expected("r/op") == hosts
    assert max(len(v) for k, v in table.items() if k.startswith("e|r/op|")) == EXPECTED_CHUNK  # type: ignore[arg-type]


def test_engine_runs_on_the_table_store_and_the_open_index_follows_completion():
    store = TableStore({})
    op = SyntheticOperation(hosts=hostnames(3), images=["i"], silent={"guaranine2"})
    for offset, record in enumerate(op.records()):
        engine.commit(engine.process(notification(record), offset, 1, 0.0, store, Limits()), store)
    assert [op_id for op_id, _ in store.open_summaries(1)] == [op.operation_id]
    assert list(store.open_summaries(0)) == []
    (step,) = engine.tick(1, 100.0, store, Limits(grace_period_s=5))
    engine.commit(step, store)
    assert list(store.open_summaries(1)) == []
    summary = store.get_summary(op.operation_id)
    assert summary is not None
    assert summary["missing_hosts"] == ["guaranine2"]
