"""The worker's recent batch figures on ``GET /stats`` (``pipeline.context.Stats``)."""

from precache.pipeline.stats import RECENT_BATCHES, Stats


def test_batch_latency_gives_quantiles_of_the_recent_batches() -> None:
    stats = Stats()
    assert stats.batch_latency() == {"batches": 0, "age_ms": {}, "apply_ms": {}}
    for ms in range(1, 101):  # 1..100 ms, out of order
        stats.batch_ms.append(float((ms * 37) % 100 + 1))
        stats.batch_age_ms.append(2.0 * ms)
    got = stats.batch_latency()
    assert got["batches"] == 100
    assert got["apply_ms"] == {"p50": 50.0, "p99": 99.0, "max": 100.0}
    assert got["age_ms"] == {"p50": 100.0, "p99": 198.0, "max": 200.0}


def test_only_the_recent_batches_are_kept() -> None:
    stats = Stats()
    for _ in range(RECENT_BATCHES):
        stats.batch_ms.append(500.0)  # an old slow spell
    for _ in range(RECENT_BATCHES):
        stats.batch_ms.append(1.0)
    assert stats.batch_latency()["apply_ms"] == {"p50": 1.0, "p99": 1.0, "max": 1.0}
