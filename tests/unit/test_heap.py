"""``precache.heap``: start-up objects leave the garbage collector's view."""

import gc
from collections.abc import Iterator

import pytest

from precache.heap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session as before


def test_freeze_moves_the_live_objects_out_of_the_collectors_view(unfrozen: None) -> None:
    tracked_before = len(gc.get_objects())
    assert gc.get_freeze_count() == 0
    frozen = freeze_startup_heap()
    assert frozen == gc.get_freeze_count()
    assert frozen > tracked_before // 2  # what start-up made: every module, class, function
    assert len(gc.get_objects()) < tracked_before - frozen // 2  # no longer walked
