"""The policy file: the issue's own example validates; each mistake is one line naming its key."""

from datetime import timedelta
from pathlib import Path

import pytest

from precache.errors import ConfigError
from precache.rollout.policy import load_policy, parse_policy

ISSUE_EXAMPLE = """
images = ["ubuntu-24.04-20261201"]     # names or ids, resolved per cloud through the image service

[[target]]
cloud = "eu-1"
region = "eu-1"
aggregates = ["web", "batch"]

[[target]]
cloud = "us-1"
aggregates = ["web"]
images = ["ubuntu-24.04-20261201", "debian-13"]   # per-target override

[pace]
in_flight_per_region = 2
in_flight = 10
retry_failed = 2

[gate]
require = "100%"
valid_for = "6h"

[keep]
refresh_before = "2h"
"""

ONE = '[[target]]\ncloud = "a"\naggregates = ["w"]\nimages = ["x"]\n'


def test_the_issue_example() -> None:
    p = parse_policy(ISSUE_EXAMPLE)
    assert [t.precache_region for t in p.target] == ["eu-1", "us-1"]
    assert p.images_of(p.target[0]) == ["ubuntu-24.04-20261201"]
    assert p.images_of(p.target[1]) == ["ubuntu-24.04-20261201", "debian-13"]
    assert (p.pace.in_flight_per_region, p.pace.in_flight, p.pace.retry_failed) == (2, 10, 2)
    assert p.gate.require == 1.0
    assert p.gate.valid_for == timedelta(hours=6)
    assert p.keep.refresh_before == timedelta(hours=2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ONE + '[gate]\nrequire = "150%"', "gate.require: expected a percentage"),
        (ONE + '[gate]\nvalid_for = "6x"', "gate.valid_for: expected a duration"),
        (ONE + "[pace]\nin_flite = 3", "pace.in_flite: unknown key"),
        (ONE + "[pace]\nin_flight = 0", "pace.in_flight: Input should be greater than or equal"),
        ('[[target]]\ncloud = "a"\naggregates = []\nimages = ["x"]', "target[0].aggregates:"),
        ('[[target]]\ncloud = "a"\naggregates = ["w"]', "target[0]: no images"),
        ('images = ["x"]', "target: Field required"),
        (ONE + ONE, "aggregate 'w' of region 'a' is in two targets"),
        ("images = [", "not TOML"),
    ],
)
def test_a_bad_policy_is_one_line_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policy(text)
    line = str(caught.value)
    assert message in line
    assert "\n" not in line


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_policy(tmp_path / "nope.toml")
