"""The run's rate limiter: GCRA (a token bucket of `burst` refilled at `rate`/s), adaptive.

Guarantee: with rate r and burst b, any half-open one-second window holds at most
`window_bound(r, b) = b + ceil(r) - 1` grants (r + b - 1 for a whole r). The gateway allows
r + b per sliding second, so one request of slack is left for network jitter. Why: each grant
advances the theoretical arrival time (TAT) by one interval T and a grant waits until
TAT - (b - 1)·T, so grants i < j satisfy g_j - g_i >= (j - i + 1 - b)·T; n grants inside a
window shorter than 1 s then need (n - b)·T < 1, i.e. n < b + r. Time is integer nanoseconds and
T is rounded up, so float drift can never squeeze in one more grant.

Adaptive: a 429 (at most once per cool-down) drops the rate to 95 % of what the server accepted
in the last second, or halves it when almost nothing got through (not below `min_rate`). The
rate then doubles per second back up to that estimate and probes above it ever faster while no
429 comes (`recovered_rate`), so it settles just under a server's limit with few 429s and
returns quickly to the configured rate after a passing burst. The configured rate stays a hard
ceiling: a second GCRA at the configured rate also gates every grant, so no adaptive state can
break the guarantee.

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
#: The configured rate is paced at this fraction of itself (see RateLimiter.__init__).
JITTER_MARGIN = 0.99
#: The grant and success time windows are trimmed once this long (and whenever they are read):
#: trimming on every request cost a tenth of the engine's time at thousands of requests a second.
_TRIM_AT = 65_536


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


def recovered_rate(
    start: float, ssthresh: float, target: float, elapsed_s: float, probe: float = 0.01
) -> float:
    """The rate `elapsed_s` after a decrease to `start` (pure).

    Below `ssthresh` (the rate the server was last seen to accept) it doubles every second; above
    it, it probes upward slowly at first and faster the longer no 429 comes
    (`ssthresh * (1 + probe * t^2)`: +9 % after 3 s, +25 % after 5 s), capped at `target`.
    """
    t = max(0.0, elapsed_s)
    if start < ssthresh:
        reach = math.log2(ssthresh / start)  # seconds of doubling until the estimate
        if t <= reach:
            return float(min(target, start * 2.0**t))
        t -= reach
    base = max(start, ssthresh)
    return float(min(target, max(start, base * (1.0 + probe * t * t))))


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
        probe: float = 0.01,
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
        self._probe = probe
        # Hard ceiling at the configured rate; never changes.
        # 1 % under the configured rate: the grants keep one request per 100 of slack for
        # requests that bunch up on their way to the server (loop stalls, a busy server).
        self._hard_interval = interval_ns(rate * JITTER_MARGIN) if rate is not None else 0
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
        self._ok: deque[float] = deque()  # success times in the last second
        self._ssthresh = 0.0  # the rate the server was last seen to accept
        self._first_ok: float | None = None

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
        if self._current is None and self._configured is None:
            self._note_grant(self._clock.monotonic())  # unlimited: nothing to wait for
            return
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
        _drop_older(self._ok, now_s)
        # Successes per second over the last second, or over the run so far if younger.
        span = min(1.0, max(0.25, now_s - self._first_ok)) if self._first_ok is not None else 1.0
        accepted = len(self._ok) / span
        if accepted >= max(1.0, 0.5 * current):
            # The server took `accepted` in the last second: settle just under that.
            new_rate = max(self._min_rate, min(current, 0.95 * accepted))
            self._ssthresh = new_rate
        else:
            new_rate = max(self._min_rate, current * 0.5)
            self._ssthresh = max(self._ssthresh, new_rate)
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
        """A request got through: count it, and recover toward the configured rate."""
        now_s = self._clock.monotonic()
        self._ok.append(now_s)
        if self._first_ok is None:
            self._first_ok = now_s
        if len(self._ok) > _TRIM_AT:
            _drop_older(self._ok, now_s)
        if self._decreased_at is None or self._current is None or self._target is None:
            return
        new_rate = recovered_rate(
            self._decreased_to,
            self._ssthresh,
            self._target,
            now_s - self._decreased_at,
            self._probe,
        )
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
                self._note_grant(now_s)
            return now
        grant, _ = gcra_next(self._soft_tat, now, self._soft_interval, self._burst)
        if self._configured is not None:
            hard_grant, _ = gcra_next(self._hard_tat, now, self._hard_interval, self._burst)
            grant = max(grant, hard_grant)
            _, self._hard_tat = gcra_next(self._hard_tat, grant, self._hard_interval, self._burst)
        _, self._soft_tat = gcra_next(self._soft_tat, grant, self._soft_interval, self._burst)
        return grant

    def _note_grant(self, now_s: float) -> None:
        """Remember an unlimited grant: the first 429 starts from the last second's count."""
        self._recent.append(now_s)
        if len(self._recent) > _TRIM_AT:
            self._drop_old(now_s)

    def _drop_old(self, now_s: float) -> None:
        _drop_older(self._recent, now_s)


def _drop_older(times: deque[float], now_s: float) -> None:
    """Forget times more than a second before `now_s`."""
    while times and times[0] <= now_s - 1.0:
        times.popleft()


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)
