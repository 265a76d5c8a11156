"""The bridge's metrics registry itself; that the bridge updates each metric where it says is
tested on the real brokers (tests/integration/bridge/test_bridge_metrics.py)."""

from prometheus_client import generate_latest

from precache.bridge.metrics import BridgeMetrics


def test_every_dead_letter_reason_is_exposed_from_the_start() -> None:
    metrics = BridgeMetrics()
    metrics.dead_letters.labels(reason="not_json").inc()
    text = generate_latest(metrics.registry).decode()
    assert 'precache_bridge_dead_letters_total{reason="not_json"} 1.0' in text
    assert 'precache_bridge_dead_letters_total{reason="too_large"} 0.0' in text
    assert metrics.dead_letter_counts()["not_json"] == 1


def test_two_bridges_in_one_process_keep_their_own_counters() -> None:
    first, second = BridgeMetrics(), BridgeMetrics()
    first.received.inc(3)
    assert second.registry.get_sample_value("precache_bridge_received_total") == 0
