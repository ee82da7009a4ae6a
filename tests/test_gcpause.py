"""Tests for bulkdel.gcpause: the GC is paused or kept off old data, and restored after."""

from __future__ import annotations

import gc

import pytest

from bulkdel.gcpause import gc_frozen, gc_paused


def test_gc_paused_disables_and_restores() -> None:
    """The collector is off inside the block and on again after, even on an error."""
    seen: list[bool] = []

    def inside() -> None:
        with gc_paused():
            seen.append(gc.isenabled())
            raise KeyError("x")

    assert gc.isenabled()
    with pytest.raises(KeyError):
        inside()
    assert seen == [False]
    assert gc.isenabled()


def test_gc_frozen_hides_what_is_alive_and_gives_it_back() -> None:
    """Objects alive at entry move to the permanent generation for the block only."""
    before = gc.get_freeze_count()
    kept = [{"n": n} for n in range(1000)]
    with gc_frozen():
        assert gc.get_freeze_count() >= before + len(kept)
    assert gc.get_freeze_count() == 0
    assert len(kept) == 1000
