"""The run's rate limiter: GCRA (a token bucket of `burst` refilled at `rate`/s), adaptive.

Guarantee: with rate r and burst b, any half-open one-second window holds at most
`window_bound(r, b) = b + ceil(r) - 1` grants (r + b - 1 for a whole r). The gateway allows
r + b per sliding second, so one request of slack is left for network jitter. Why: each grant
advances the theoretical arrival time (TAT) by one interval T and a grant waits until
TAT - (b - 1)·T, so grants i < j satisfy g_j - g_i >= (j - i + 1 - b)·T; n grants inside a
window shorter than 1 s then need (n - b)·T < 1, i.e. n < b + r. Time is integer nanoseconds and
T is rounded up, so float drift can never squeeze in one more grant.

Adaptive (AIMD): a 429 halves the rate (not below `min_rate`, once per cool-down, so one bad
second halves once); the rate then climbs back linearly with time since the last decrease. The
configured rate stays a hard ceiling: a second GCRA at the configured rate also gates every
grant, so no adaptive state can break the guarantee.

Built on our own GCRA, not aiolimiter: the limiter needs the injectable clock, reservations
(FIFO without stampedes) and a rate that changes while callers wait.
"""

from __future__ import annotations

import math
from collections import deque

from bulkdel.clock import Clock
from bulkdel.errors import UsageError

NS_PER_S = 1_000_000_000
_FAR_PAST = -(2**62)  # a TAT this old means a full bucket
#: A sleeper woken this close to its grant time proceeds (timer and float rounding).
_WAKE_TOLERANCE_NS = 1_000


# --- pure core ----------------------------------------------------------------------------------


def interval_ns(rate: float) -> int:
    """Nanoseconds between grants at `rate` per second, rounded up (never faster than asked)."""
    return max(1, math.ceil(NS_PER_S / rate))


def gcra_next(tat: int, now: int, interval: int, burst: int) -> tuple[int, int]:
    """Reserve one slot: return (grant time, new TAT), all in integer nanoseconds.

    The grant is at `now` if the bucket has a token, else when one arrives.
    """
    grant = max(now, tat - (burst - 1) * interval)
    return grant, max(tat, grant) + interval


def window_bound(rate: float, burst: int) -> int:
    """The most grants any half-open one-second window can hold at `rate` and `burst`."""
    return burst + math.ceil(rate) - 1


def rescale_tat(tat: int, now: int, old_interval: int, new_interval: int) -> int:
    """The TAT after a rate decrease: the same number of tokens owed, at the new interval.

    For an increase the TAT stays: waiters already hold slots up to it, and moving it earlier
    would let new grants interleave with theirs.
    """
    if new_interval <= old_interval or tat <= now:
        return tat
    owed = tat - now
    return now + -(-owed * new_interval // old_interval)  # ceil: round towards slower


def recovered_rate(start: float, target: float, step_per_s: float, elapsed_s: float) -> float:
    """Additive recovery: `start` plus `step_per_s` per second elapsed, capped at `target`."""
    return min(target, start + step_per_s * max(0.0, elapsed_s))


# --- the limiter --------------------------------------------------------------------------------


class RateLimiter:
    """A global, adaptive, FIFO-fair rate limiter; `rate=None` means unlimited."""

    def __init__(
        self,
        rate: float | None,
        burst: int,
        clock: Clock,
        *,
        min_rate: float = 0.5,
        cooldown_s: float = 1.0,
        recovery_per_s: float = 0.05,
    ) -> None:
        if rate is not None and not (math.isfinite(rate) and rate > 0):
            raise UsageError(f"--rate must be a positive number of requests per second, not {rate}")
        if burst < 1:
            raise UsageError(f"--burst must be at least 1, not {burst}")
        if not (math.isfinite(min_rate) and min_rate > 0):
            raise UsageError(f"the minimum adaptive rate must be positive, not {min_rate}")
        self._configured = rate
        self._burst = burst
        self._clock = clock
        self._min_rate = min(min_rate, rate) if rate is not None else min_rate
        self._cooldown_s = cooldown_s
        self._recovery_per_s = recovery_per_s
        # Hard ceiling at the configured rate; never changes.
        self._hard_interval = interval_ns(rate) if rate is not None else 0
        self._hard_tat = _FAR_PAST
        # Adaptive gate at the current rate.
        self._current = rate
        self._soft_interval = self._hard_interval
        self._soft_tat = _FAR_PAST
        self._target = rate  # what recovery climbs back to
        self._decreased_at: float | None = None
        self._decreased_to = 0.0
        self._decreases = 0
        self._recent: deque[float] = deque()  # grant times in the last second, while unlimited

    @property
    def configured_rate(self) -> float | None:
        """The rate asked for (None = unlimited)."""
        return self._configured

    @property
    def current_rate(self) -> float | None:
        """The rate in force now (None = unlimited)."""
        return self._current

    @property
    def decreases(self) -> int:
        """How many times a 429 lowered the rate."""
        return self._decreases

    def reserve(self) -> float:
        """Take the next slot without waiting; return its grant time in clock seconds."""
        return self._reserve_ns() / NS_PER_S

    async def acquire(self) -> None:
        """Wait for the next slot. The slot is reserved before sleeping, so waiters are FIFO.

        A caller cancelled while waiting forfeits its slot (the run just goes slightly slower).
        """
        grant = self._reserve_ns()
        while (remaining := grant - _ns(self._clock.monotonic())) > _WAKE_TOLERANCE_NS:
            await self._clock.sleep(remaining / NS_PER_S)

    def on_throttled(self) -> None:
        """A 429 arrived: halve the rate, at most once per cool-down."""
        now_s = self._clock.monotonic()
        if self._decreased_at is not None and now_s - self._decreased_at < self._cooldown_s:
            return
        if self._current is None:
            # Unlimited so far: start from what we actually sent in the last second.
            self._drop_old(now_s)
            self._target = max(float(len(self._recent)), self._min_rate)
            self._recent.clear()
            current = self._target
            old_interval = interval_ns(current)
        else:
            current = self._current
            old_interval = self._soft_interval
        new_rate = max(self._min_rate, current * 0.5)
        new_interval = interval_ns(new_rate)
        now = _ns(now_s)
        # Start with an empty bucket: the server is already over its limit.
        self._soft_tat = max(
            rescale_tat(self._soft_tat, now, old_interval, new_interval),
            now + self._burst * new_interval,
        )
        self._soft_interval = new_interval
        self._current = new_rate
        self._decreased_at = now_s
        self._decreased_to = new_rate
        self._decreases += 1

    def on_success(self) -> None:
        """A request got through: recover toward the configured rate, linearly in time."""
        if self._decreased_at is None or self._current is None or self._target is None:
            return
        elapsed = self._clock.monotonic() - self._decreased_at
        step = self._target * self._recovery_per_s
        new_rate = recovered_rate(self._decreased_to, self._target, step, elapsed)
        if new_rate <= self._current:
            return
        if new_rate >= self._target and self._configured is None:
            self._current = None  # fully recovered: unlimited again
            self._decreased_at = None
            return
        self._current = new_rate
        self._soft_interval = interval_ns(new_rate)

    def _reserve_ns(self) -> int:
        now_s = self._clock.monotonic()
        now = _ns(now_s)
        if self._current is None:
            if self._configured is None:
                self._recent.append(now_s)
                self._drop_old(now_s)
            return now
        grant, _ = gcra_next(self._soft_tat, now, self._soft_interval, self._burst)
        if self._configured is not None:
            hard_grant, _ = gcra_next(self._hard_tat, now, self._hard_interval, self._burst)
            grant = max(grant, hard_grant)
            _, self._hard_tat = gcra_next(self._hard_tat, grant, self._hard_interval, self._burst)
        _, self._soft_tat = gcra_next(self._soft_tat, grant, self._soft_interval, self._burst)
        return grant

    def _drop_old(self, now_s: float) -> None:
        recent = self._recent
        while recent and recent[0] <= now_s - 1.0:
            recent.popleft()


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)
