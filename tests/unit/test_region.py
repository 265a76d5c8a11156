"""One region rule for the bridge and the worker (precache/region.py)."""

import pytest

from precache.bridge.settings import load_settings
from precache.errors import ConfigError
from precache.pipeline.notifications import MalformedNotification, _region
from precache.region import region_problem


@pytest.mark.parametrize("region", ["eu/west", "", "x" * 256, "eu\x1bwest", "a\u200bb", "tab\t"])
def test_a_region_the_worker_refuses_the_bridge_refuses(region: str) -> None:
    assert region_problem(region) is not None
    with pytest.raises(MalformedNotification):
        _region(region)
    if region:  # an empty option is "not given"
        with pytest.raises(ConfigError, match="region"):
            load_settings(region=region)


@pytest.mark.parametrize("region", ["local", "eu-west-1", "région-ü", "x" * 255])
def test_a_region_the_worker_takes_the_bridge_takes(region: str) -> None:
    assert region_problem(region) is None
    assert _region(region) == region
    assert load_settings(region=region).region == region
