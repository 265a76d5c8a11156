"""``precache.heap``: start-up objects leave the garbage collector's view."""

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from precache.heap import WORKER_THRESHOLDS, freeze_startup_heap, space_out_collections
from precache.pipeline import service
from precache.pipeline.settings import WorkerSettings


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


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def young_collections_while_allocating(count: int) -> int:
    """Young collections while ``count`` acyclic containers are made and kept."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            seen.append(1)

    gc.callbacks.append(callback)
    try:
        kept = [{"n": i} for i in range(count)]
    finally:
        gc.callbacks.remove(callback)
    assert len(kept) == count
    return len(seen)


def test_the_worker_collects_young_objects_far_less_often(thresholds: None) -> None:
    gc.set_threshold(700, 10, 10)
    assert young_collections_while_allocating(20_000) >= 20
    space_out_collections()
    assert gc.get_threshold() == WORKER_THRESHOLDS
    assert young_collections_while_allocating(20_000) <= 1


def test_the_worker_spaces_out_collections_before_it_starts(
    thresholds: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gc.set_threshold(700, 10, 10)
    started: list[tuple[int, ...]] = []
    monkeypatch.setattr(service, "_run_faust", lambda s: started.append(gc.get_threshold()))
    monkeypatch.setattr(service, "check_port_free", lambda *a: None)
    service.serve(WorkerSettings(data_dir=tmp_path))
    assert started == [WORKER_THRESHOLDS]
