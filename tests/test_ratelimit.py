"""Tests for bulkdel.ratelimit: the GCRA window bound, FIFO waits and the adaptive rate."""

from __future__ import annotations

import bisect
import math

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdel.clock import FakeClock
from bulkdel.errors import UsageError
from bulkdel.ratelimit import (
    JITTER_MARGIN,
    NS_PER_S,
    RateLimiter,
    gcra_next,
    interval_ns,
    recovered_rate,
    rescale_tat,
    window_bound,
)

FAR_PAST = -(2**62)


class WakeClock(FakeClock):
    """A FakeClock that records the time each sleeper asked to wake at (its grant time)."""

    def __init__(self) -> None:
        super().__init__()
        self.wakes: list[float] = []

    async def sleep(self, seconds: float) -> None:
        """Record the wake-up target, then sleep like FakeClock."""
        self.wakes.append(self.monotonic() + seconds)
        await super().sleep(seconds)


def max_in_window(grants_ns: list[int]) -> int:
    """The largest number of grants inside any half-open one-second window (brute force)."""
    g = sorted(grants_ns)
    return max((bisect.bisect_left(g, t + NS_PER_S) - i for i, t in enumerate(g)), default=0)


# --- pure core ----------------------------------------------------------------------------------


def test_window_bound_formula() -> None:
    """A whole rate gives rate + burst - 1; a fractional rate rounds up then subtracts one."""
    assert window_bound(10, 1) == 10
    assert window_bound(10, 5) == 14
    assert window_bound(2.5, 1) == 3
    assert window_bound(0.5, 1) == 1


def test_interval_rounds_up() -> None:
    """The interval is never shorter than 1/rate, so the rate is never exceeded."""
    assert interval_ns(10) == 100_000_000
    assert interval_ns(3) == 333_333_334
    assert interval_ns(3) * 3 >= NS_PER_S


def test_gcra_full_bucket_grants_now() -> None:
    """A fresh bucket grants at once and advances the TAT by one interval."""
    assert gcra_next(FAR_PAST, 5, 100, 3) == (5, 105)


def test_gcra_empty_bucket_waits() -> None:
    """With burst 1 the second request waits one interval."""
    g1, tat = gcra_next(FAR_PAST, 0, 100, 1)
    g2, tat2 = gcra_next(tat, 0, 100, 1)
    assert (g1, g2, tat2) == (0, 100, 200)


def test_sustained_demand_reaches_the_bound_exactly() -> None:
    """Back-to-back demand at rate 10, burst 5 fills some window with exactly 14 grants."""
    tat, grants = FAR_PAST, []
    for _ in range(100):
        g, tat = gcra_next(tat, 0, interval_ns(10), 5)
        grants.append(g)
    assert max_in_window(grants) == 14 == window_bound(10, 5)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(1, 40) | st.floats(0.3, 40.0),
    burst=st.integers(1, 8),
    gaps=st.lists(st.integers(0, 400_000_000), min_size=1, max_size=150),
)
def test_gcra_sliding_window_bound(rate: float, burst: int, gaps: list[int]) -> None:
    """Whatever the arrival pattern, no one-second window holds more than the bound."""
    interval = interval_ns(rate)
    tat, now, grants = FAR_PAST, 0, []
    for gap in gaps:
        now += gap
        g, tat = gcra_next(tat, now, interval, burst)
        assert g >= now
        grants.append(g)
    assert grants == sorted(grants)  # FIFO: later arrivals never overtake
    assert max_in_window(grants) <= window_bound(rate, burst)
    if isinstance(rate, int):
        assert max_in_window(grants) <= rate + burst - 1


def test_rescale_on_decrease_keeps_tokens_owed() -> None:
    """Halving the rate doubles the time still owed; raising it leaves the TAT alone."""
    assert rescale_tat(1_000, 600, 100, 200) == 1_400
    assert rescale_tat(1_000, 600, 200, 100) == 1_000
    assert rescale_tat(500, 600, 100, 200) == 500


def test_recovered_rate_slow_starts_then_probes_and_is_capped() -> None:
    """Doubling up to the accepted estimate, then probing ever faster, never past the target."""
    assert recovered_rate(5.0, 18.0, 40.0, 1.0) == 10.0  # slow start: doubles per second
    assert recovered_rate(4.5, 18.0, 40.0, 2.0) == pytest.approx(18.0)  # two doublings
    assert recovered_rate(4.5, 18.0, 40.0, 4.0) == pytest.approx(18.0 * 1.04)
    assert recovered_rate(18.0, 18.0, 40.0, 3.0) == pytest.approx(18.0 * 1.09)
    assert recovered_rate(18.0, 18.0, 20.0, 10.0) == 20.0
    assert recovered_rate(5.0, 18.0, 40.0, -3.0) == 5.0


@given(
    start=st.floats(0.5, 100),
    thresh=st.floats(0.5, 100),
    target=st.floats(0.5, 200),
    t1=st.floats(0, 60),
    t2=st.floats(0, 60),
)
def test_recovered_rate_never_falls_and_stays_capped(
    start: float, thresh: float, target: float, t1: float, t2: float
) -> None:
    """Recovery is monotonic in time and never exceeds the configured target."""
    a, b = sorted((t1, t2))
    ra = recovered_rate(start, thresh, target, a)
    rb = recovered_rate(start, thresh, target, b)
    assert ra <= rb + 1e-9
    assert rb <= max(target, start)


# --- the limiter --------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (math.nan, 1), (10.0, 0)])
def test_rejects_unusable_settings(rate: float, burst: int) -> None:
    """A non-positive rate or a burst below 1 is a usage error naming the option."""
    with pytest.raises(UsageError, match=r"--rate|--burst"):
        RateLimiter(rate, burst, FakeClock())


async def test_concurrent_acquirers_are_spaced_by_the_interval() -> None:
    """Ten concurrent callers at rate 10, burst 1: one at once, then one every 0.1 s."""
    clock = WakeClock()
    limiter = RateLimiter(10, 1, clock)
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(limiter.acquire)
    # Paced 0.5 % under the configured rate (JITTER_MARGIN).
    assert clock.wakes == pytest.approx([0.1 / JITTER_MARGIN * k for k in range(1, 10)])
    assert clock.monotonic() == pytest.approx(0.9 / JITTER_MARGIN)


async def test_burst_lets_the_first_callers_through_at_once() -> None:
    """Burst 5: five callers pass without sleeping, the sixth waits one interval."""
    clock = WakeClock()
    limiter = RateLimiter(10, 5, clock)
    async with anyio.create_task_group() as tg:
        for _ in range(7):
            tg.start_soon(limiter.acquire)
    assert clock.wakes == pytest.approx([0.1 / JITTER_MARGIN, 0.2 / JITTER_MARGIN])


def test_reservations_are_fifo_and_spaced() -> None:
    """Reserving without time passing hands out consecutive slots."""
    limiter = RateLimiter(4, 1, FakeClock())
    expected = [0.25 / JITTER_MARGIN * k for k in range(4)]
    assert [limiter.reserve() for _ in range(4)] == pytest.approx(expected)


async def test_unlimited_never_sleeps() -> None:
    """rate=None grants at once, however many callers."""
    clock = FakeClock()
    limiter = RateLimiter(None, 1, clock)
    for _ in range(1000):
        await limiter.acquire()
    assert clock.sleeps == []
    assert limiter.current_rate is None


def test_throttle_halves_once_per_cooldown() -> None:
    """A burst of 429s halves the rate once; after the cool-down another 429 halves again."""
    clock = FakeClock()
    limiter = RateLimiter(10, 1, clock)
    limiter.on_throttled()
    limiter.on_throttled()
    clock.advance(0.5)
    limiter.on_throttled()
    assert limiter.current_rate == 5.0
    clock.advance(0.6)
    limiter.on_throttled()
    assert limiter.current_rate == 2.5
    assert limiter.decreases == 2


def test_throttle_never_goes_below_min_rate() -> None:
    """Repeated 429s stop at min_rate."""
    clock = FakeClock()
    limiter = RateLimiter(10, 1, clock, min_rate=2.0)
    for _ in range(10):
        limiter.on_throttled()
        clock.advance(2)
    assert limiter.current_rate == 2.0


def test_throttle_slows_the_next_grants() -> None:
    """After a 429 at rate 10 the next grants come 0.2 s apart, starting one interval later."""
    clock = FakeClock()
    limiter = RateLimiter(10, 1, clock)
    limiter.reserve()
    limiter.on_throttled()
    assert [limiter.reserve() for _ in range(3)] == pytest.approx([0.2, 0.4, 0.6])


def test_throttle_settles_under_what_the_server_accepted() -> None:
    """A 429 after 20 accepted in the last second sets the rate to 19, then it climbs slowly."""
    clock = FakeClock()
    limiter = RateLimiter(40, 1, clock)
    for _ in range(40):
        clock.advance(0.05)
        limiter.on_success()
    limiter.on_throttled()
    assert limiter.current_rate == pytest.approx(19.0)
    clock.advance(1)
    limiter.on_success()
    rate = limiter.current_rate
    assert rate is not None
    assert 19.0 < rate < 19.5  # probing starts gently
    clock.advance(4)
    limiter.on_success()
    assert limiter.current_rate == pytest.approx(19.0 * 1.25)
    clock.advance(60)
    limiter.on_success()
    assert limiter.current_rate == 40.0


def test_recovery_after_a_total_blackout_is_quick() -> None:
    """After a second with nothing accepted, the rate returns to the estimate within a second."""
    clock = FakeClock()
    limiter = RateLimiter(20, 1, clock)
    for _ in range(40):
        clock.advance(0.05)
        limiter.on_success()
    limiter.on_throttled()  # first 429: the server had taken 20/s
    clock.advance(1.1)
    limiter.on_throttled()  # still throttled, nothing got through: halve
    assert limiter.current_rate == pytest.approx(9.5)
    clock.advance(1.0)
    limiter.on_success()
    assert limiter.current_rate == pytest.approx(19.0)


def test_recovery_speeds_up_grants_again() -> None:
    """Once recovered, reservations are spaced at the configured interval again."""
    clock = FakeClock()
    limiter = RateLimiter(10, 1, clock)
    limiter.on_throttled()
    clock.advance(30)
    limiter.on_success()
    first = limiter.reserve()
    assert limiter.reserve() - first == pytest.approx(0.1 / JITTER_MARGIN)


def test_unlimited_throttle_halves_the_observed_rate_then_recovers_to_unlimited() -> None:
    """Unlimited: a 429 limits to half the last second's grants; full recovery lifts the limit."""
    clock = FakeClock()
    limiter = RateLimiter(None, 1, clock)
    clock.advance(5)
    for _ in range(40):
        clock.advance(0.025)  # 40 in the last second
        limiter.reserve()
    limiter.on_throttled()
    assert limiter.current_rate == 20.0
    clock.advance(5)
    limiter.on_success()
    assert limiter.current_rate == pytest.approx(25.0)
    clock.advance(20)
    limiter.on_success()
    assert limiter.current_rate is None


async def test_unlimited_acquire_counts_only_the_last_second_for_the_first_429() -> None:
    """Grants through acquire() older than a second do not inflate the rate a 429 sets."""
    clock = FakeClock()
    limiter = RateLimiter(None, 1, clock)
    for _ in range(70_000):  # an old burst, longer than the trimming threshold
        await limiter.acquire()
    clock.advance(5)
    for _ in range(40):
        clock.advance(0.025)
        await limiter.acquire()
    limiter.on_throttled()
    assert limiter.current_rate == 20.0


events = st.lists(
    st.tuples(st.integers(0, 300_000_000), st.sampled_from(["r", "r", "r", "r", "t", "s"])),
    min_size=1,
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(rate=st.integers(1, 30) | st.floats(0.5, 30.0), burst=st.integers(1, 6), evs=events)
def test_limiter_window_bound_survives_adaptation(
    rate: float, burst: int, evs: list[tuple[int, str]]
) -> None:
    """With 429s and recoveries mixed in, grants never exceed the configured rate's bound."""
    clock = FakeClock()
    limiter = RateLimiter(rate, burst, clock)
    grants: list[int] = []
    for gap, ev in evs:
        clock.advance(gap / NS_PER_S)
        if ev == "r":
            grants.append(round(limiter.reserve() * NS_PER_S))
        elif ev == "t":
            limiter.on_throttled()
        else:
            limiter.on_success()
    assert grants == sorted(grants)
    assert max_in_window(grants) <= window_bound(rate, burst)
    current = limiter.current_rate
    assert current is not None
    assert limiter.configured_rate is not None
    assert min(0.5, rate) <= current <= rate
