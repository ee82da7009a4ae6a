"""Tests for bulkdel.simulator.stats: the sliding-window counter and the simulator's counters."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bulkdel.simulator.stats import SimStats, SlidingWindow, peak_brute_force

times = st.lists(st.floats(min_value=0.0, max_value=20.0, allow_nan=False), max_size=80).map(sorted)
# Many arrivals exactly one window apart, where an off-by-one at the edge would show.
grid_times = st.lists(st.integers(0, 40), max_size=80).map(lambda xs: sorted(x / 4 for x in xs))


@given(ts=st.one_of(times, grid_times))
def test_peak_equals_brute_force(ts: list[float]) -> None:
    """The incremental peak equals the O(n²) count over every window ending at an arrival."""
    window = SlidingWindow(1.0)
    for t in ts:
        window.add(t)
    assert window.peak == peak_brute_force(ts)


@given(ts=grid_times)
def test_count_is_the_events_in_the_last_second(ts: list[float]) -> None:
    """count(now) is the number of events in (now - 1, now]."""
    window = SlidingWindow(1.0)
    for t in ts:
        window.add(t)
    now = (ts[-1] if ts else 0.0) + 0.5
    assert window.count(now) == sum(1 for t in ts if now - 1.0 < t <= now)


def test_edge_of_the_window_is_excluded() -> None:
    """An event exactly one second old no longer counts."""
    window = SlidingWindow(1.0)
    window.add(0.0)
    assert window.add(1.0) == 1
    assert window.peak == 1


def test_in_flight_peaks_and_log() -> None:
    """In-flight peaks are tracked overall and per interface; finishing writes the log."""
    stats = SimStats()
    stats.delete_started(0.0, 100.2, "v1")
    stats.delete_started(0.1, 100.4, "v1")
    stats.delete_started(0.2, 101.0, "v2")
    stats.delete_finished(mono=0.0, peer_id="a", vif_id="v1", status=204, applied=True)
    stats.delete_finished(mono=0.1, peer_id="b", vif_id="v1", status=400, applied=False)
    stats.delete_finished(mono=0.2, peer_id="c", vif_id="v2", status=None, applied=False)
    snap = stats.snapshot()
    assert snap["peak_in_flight"] == 3
    assert snap["peak_in_flight_per_vif"] == 2
    assert snap["in_flight"] == 0
    assert snap["per_second"] == [[100, 2], [101, 1]]
    assert snap["by_status"] == {"204": 1, "400": 1, "reset": 1}
    assert (snap["deletes_received"], snap["deletes_applied"]) == (3, 1)
    assert [e["peer_id"] for e in stats.log] == ["a", "b", "c"]


def test_reset_keeps_requests_in_flight_consistent() -> None:
    """A reset while a DELETE is in flight zeroes counters without going negative later."""
    stats = SimStats()
    stats.delete_started(0.0, 0.0, "v1")
    stats.reset()
    assert stats.snapshot()["deletes_received"] == 0
    assert stats.peak_in_flight == 1
    stats.delete_finished(mono=0.0, peer_id="a", vif_id="v1", status=204, applied=True)
    assert stats.in_flight == 0
    assert stats.snapshot()["deletes_applied"] == 1
