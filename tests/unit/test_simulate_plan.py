import pytest

from precache.errors import ConfigError
from precache.simulate import HostOutcome, SimulationPlan, parse_host_ranges
from precache.simulate.notifier import oslo_transport_url


def test_host_ranges() -> None:
    assert parse_host_ranges("2-4, 9") == {2, 3, 4, 9}
    assert parse_host_ranges("") == frozenset()


@pytest.mark.parametrize("text", ["2-x", "5-3", "a"])
def test_bad_host_range_says_what_is_wrong(text: str) -> None:
    with pytest.raises(ConfigError, match="bad host range"):
        parse_host_ranges(text)


def test_hosts_outside_the_aggregate_are_refused() -> None:
    with pytest.raises(ConfigError, match="failing: host numbers \\[96\\]"):
        SimulationPlan(hosts=95, failing=frozenset({96}))


def test_outcomes_follow_the_plan() -> None:
    plan = SimulationPlan(
        hosts=5, failing=frozenset({2}), down=frozenset({3}), no_report=frozenset({4})
    )
    assert [plan.outcome(n) for n in range(1, 6)] == [
        HostOutcome.CACHED,
        HostOutcome.FAILED,
        HostOutcome.DOWN,
        HostOutcome.NO_REPORT,
        HostOutcome.CACHED,
    ]
    assert plan.host_names()[-1] == "guaranine5"


@pytest.mark.parametrize(
    ("amqp", "oslo"),
    [
        ("amqp://guest:guest@127.0.0.1:5672//", "rabbit://guest:guest@127.0.0.1:5672/"),
        ("amqp://u:p@rabbit:5672/nova", "rabbit://u:p@rabbit:5672/nova"),
    ],
)
def test_oslo_transport_url(amqp: str, oslo: str) -> None:
    assert oslo_transport_url(amqp) == oslo
