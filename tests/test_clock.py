"""Tests for bulkdel.clock: the real and the fake clock agree on what wall_ms means."""

from __future__ import annotations

from datetime import UTC, datetime

from bulkdel.clock import FakeClock, SystemClock
from bulkdel.encoding import format_ts, format_ts_ms


def test_system_wall_ms_is_the_wall_clock_in_milliseconds() -> None:
    """SystemClock.wall_ms lies between two wall() readings taken around it."""
    clock = SystemClock()
    before = clock.wall()
    ms = clock.wall_ms()
    after = clock.wall()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert int((before - epoch).total_seconds() * 1000) - 1 <= ms
    assert ms <= int((after - epoch).total_seconds() * 1000) + 1


def test_fake_wall_ms_follows_the_fake_time() -> None:
    """FakeClock.wall_ms moves with advance() and truncates to the millisecond."""
    clock = FakeClock(wall_start=datetime(2026, 12, 3, 1, 2, 3, 4999, tzinfo=UTC))
    assert format_ts_ms(clock.wall_ms()) == "2026-12-03T01:02:03.004Z"
    clock.advance(1.0015)
    assert format_ts_ms(clock.wall_ms()) == format_ts(clock.wall()) == "2026-12-03T01:02:04.006Z"
