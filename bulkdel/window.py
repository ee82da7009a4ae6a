"""Cleanup windows: when dispatching may begin and when it must stop.

Parses `--not-before`, `--not-after`, `--window HH:MM-HH:MM`, `--tz` and `--max-duration`, and
computes the bounds of one run. Pure: the current time is always a parameter; every returned
datetime is timezone-aware UTC.

Daily windows are wall-clock times in `--tz`, resolved with zoneinfo, so they follow DST:
- A local time that does not exist (spring forward, e.g. 02:30 on 2026-03-29 in Europe/Berlin)
  resolves to the instant the clock jumps (03:00 CEST), like cron: a window 01:30-02:30 that day
  closes at 03:00 CEST after 30 real minutes; a window 02:30-04:00 opens at 03:00 CEST; a window
  lying wholly inside the gap (02:10-02:40) does not occur that day.
- A local time that occurs twice (fall back) resolves to its first occurrence, for both ends:
  the window opens as early and closes as early as the wall clock allows, so it never runs past
  the first moment the clock shows the end time. An occurrence is one continuous interval: a
  window 02:30-03:30 that night runs from 02:30 CEST to 03:30 CET (two real hours, including
  the clock's second pass through 02:00-02:30), and one wholly inside the repeated hour runs
  once, on the first pass.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bulkdel.errors import UsageError

#: The default `--tz`.
UTC_ZONE = ZoneInfo("UTC")

_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN_NUMBER = re.compile(_NUMBER)
_DURATION_PART = re.compile(rf"({_NUMBER})(ms|s|m|h|d)")
_DURATION_EXAMPLES = "45s, 90m, 2h, 1h30m, 500ms, or a plain number of seconds"
# Far beyond any cleanup window, and small enough that datetime arithmetic cannot overflow.
_MAX_DURATION_S = 100 * 366 * 86400.0

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)
_TIMESTAMP_EXAMPLES = "2026-12-03T01:00:00Z or 2026-12-03T02:00:00+01:00"
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def parse_duration(text: str, *, option: str = "duration") -> float:
    """Parse `45s`, `90m`, `2h`, `1h30m`, `500ms`, `1d` or a plain number into seconds."""
    s = text.strip().lower()
    hint = f"use a duration like {_DURATION_EXAMPLES}"
    if not s:
        raise UsageError(f"{option}: empty duration; {hint}")
    if _PLAIN_NUMBER.fullmatch(s):
        total = float(s)
    else:
        total, pos, seen = 0.0, 0, set[str]()
        while pos < len(s):
            m = _DURATION_PART.match(s, pos)
            if m is None:
                raise UsageError(f"{option}: {text!r} is not a duration; {hint}")
            if m.group(2) in seen:
                raise UsageError(f"{option}: {text!r} repeats the unit {m.group(2)!r}; {hint}")
            seen.add(m.group(2))
            total += float(m.group(1)) * _UNIT_S[m.group(2)]
            pos = m.end()
    if not math.isfinite(total) or total > _MAX_DURATION_S:
        raise UsageError(f"{option}: {text!r} is longer than 100 years; {hint}")
    return total


def format_duration(seconds: float) -> str:
    """Render seconds compactly for people: `45s`, `1h30m`, `2d3h`, `0.5s`."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:.3g}s"
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"


def parse_timestamp(text: str, *, option: str = "timestamp") -> datetime:
    """Parse an RFC 3339 timestamp with `Z` or an offset; return it as aware UTC.

    Seconds may be omitted and fractional seconds have any number of digits (truncated to
    microseconds). A timestamp without a zone is refused: a guess at 3 a.m. is worse than an error.
    """
    s = text.strip()
    m = _RFC3339.fullmatch(s)
    if m is None:
        raise UsageError(
            f"{option}: {text!r} is not an RFC 3339 timestamp; use e.g. {_TIMESTAMP_EXAMPLES}"
        )
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = m.groups()
    if zulu is None and sign is None:
        raise UsageError(
            f"{option}: {text!r} has no time zone; add Z for UTC or an offset, "
            f"e.g. {s}Z or {s}+01:00"
        )
    micro = int((frac or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            raise UsageError(
                f"{option}: {text!r} has an offset out of range; use e.g. {_TIMESTAMP_EXAMPLES}"
            )
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        offset = -offset if sign == "-" else offset
    try:
        naive = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro
        )
        return (naive - offset).replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise UsageError(
            f"{option}: {text!r} is not a valid date and time ({exc}); use e.g. "
            f"{_TIMESTAMP_EXAMPLES}"
        ) from None


def parse_tz(name: str, *, option: str = "--tz") -> ZoneInfo:
    """Look up an IANA time zone (`Europe/Berlin`, `UTC`); `Z` and `utc` mean UTC."""
    key = name.strip()
    if key.upper() in {"UTC", "Z"}:
        return UTC_ZONE
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(
            f"{option}: unknown time zone {name!r}; use an IANA name such as UTC, "
            "Europe/Berlin or America/New_York"
        ) from None


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """A daily wall-clock window `start`-`end` in local time; `end < start` crosses midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise UsageError(
                f"daily window {self}: start and end are equal; "
                "give a window like 22:00-04:00, or omit --window for no daily limit"
            )

    @property
    def crosses_midnight(self) -> bool:
        """True when the window ends on the day after it opens."""
        return self.end < self.start

    def contains(self, wall: time) -> bool:
        """Whether a local wall-clock time lies in the window (start inclusive, end exclusive)."""
        if self.crosses_midnight:
            return wall >= self.start or wall < self.end
        return self.start <= wall < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_daily_window(text: str, *, option: str = "--window") -> DailyWindow:
    """Parse `HH:MM-HH:MM` (e.g. `01:00-05:00`, `22:00-04:00`; `24:00` as an end is midnight)."""
    hint = "use HH:MM-HH:MM in 24-hour time, e.g. 01:00-05:00 or 22:00-04:00 (crosses midnight)"
    parts = text.strip().split("-")
    if len(parts) != 2:
        raise UsageError(f"{option}: {text!r} is not a daily window; {hint}")
    times: list[time] = []
    for i, part in enumerate(parts):
        m = _CLOCK.fullmatch(part.strip())
        hour, minute = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
        if i == 1 and (hour, minute) == (24, 0):
            hour = 0
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            raise UsageError(f"{option}: {part.strip()!r} in {text!r} is not a time; {hint}")
        times.append(time(hour, minute))
    try:
        return DailyWindow(times[0], times[1])
    except UsageError as exc:
        raise UsageError(f"{option}: {exc}") from None


class EndReason(StrEnum):
    """Which limit closes the run first."""

    WINDOW = "window"
    NOT_AFTER = "not_after"
    MAX_DURATION = "max_duration"


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Every scheduling limit of one run; all None means run now, unbounded."""

    not_before: datetime | None = None
    not_after: datetime | None = None
    daily: DailyWindow | None = None
    tz: ZoneInfo = UTC_ZONE
    max_duration_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("not_before", "not_after"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"WindowSpec.{name} must be timezone-aware, got {value!r}")
        if (
            self.not_before is not None
            and self.not_after is not None
            and self.not_before >= self.not_after
        ):
            raise UsageError(
                f"--not-before {self.not_before.isoformat()} is not earlier than --not-after "
                f"{self.not_after.isoformat()}; swap them or move --not-after later"
            )
        if self.max_duration_s is not None and not 0 < self.max_duration_s <= _MAX_DURATION_S:
            raise UsageError(
                f"--max-duration must be positive and at most 100 years, got "
                f"{self.max_duration_s}s; use e.g. 45s, 90m or 2h"
            )

    @property
    def unrestricted(self) -> bool:
        """True when no limit is set: start now, never stop for time."""
        return (
            self.not_before is None
            and self.not_after is None
            and self.daily is None
            and self.max_duration_s is None
        )


def spec_from_options(
    *,
    not_before: str | None = None,
    not_after: str | None = None,
    window: str | None = None,
    tz: str | None = None,
    max_duration: str | None = None,
) -> WindowSpec:
    """Build a WindowSpec from the raw CLI option values (None = option not given)."""
    nb = None if not_before is None else parse_timestamp(not_before, option="--not-before")
    na = None if not_after is None else parse_timestamp(not_after, option="--not-after")
    md = None if max_duration is None else parse_duration(max_duration, option="--max-duration")
    return WindowSpec(
        not_before=nb,
        not_after=na,
        daily=None if window is None else parse_daily_window(window),
        tz=UTC_ZONE if tz is None else parse_tz(tz),
        max_duration_s=md,
    )


@dataclass(frozen=True, slots=True)
class Bounds:
    """When one run may dispatch: from `start` until `end` (None = no end).

    `closed` means nothing can run at all (the end comes at or before the start); check it before
    waiting `wait_s`. `message` says in words what the bounds are, in the spec's time zone.
    """

    start: datetime
    end: datetime | None
    wait_s: float
    reason_at_end: EndReason | None
    closed: bool = False
    message: str = ""

    def remaining_s(self, now: datetime) -> float | None:
        """Seconds from `now` until the end (never negative); None when there is no end."""
        if self.end is None:
            return None
        return max(0.0, (self.end - now).total_seconds())


def _to_utc(value: datetime, name: str) -> datetime:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _resolve_local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The UTC instant a wall clock in `tz` shows `clock` on `day` (see module doc for DST)."""
    local = datetime.combine(day, clock, tzinfo=tz)  # fold=0: first occurrence if repeated
    first = local.astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return first
    # In a gap: fold=1 maps before the jump, fold=0 after it. The jump is the first instant
    # whose wall time reaches `clock`; tz transitions fall on whole seconds, so bisect seconds.
    wall = local.replace(tzinfo=None)
    lo = int(local.replace(fold=1).astimezone(UTC).timestamp())  # wall(lo) < wall
    hi = int(first.timestamp())  # wall(hi) >= wall
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def window_occurrence(daily: DailyWindow, tz: ZoneInfo, at: datetime) -> tuple[datetime, datetime]:
    """The (open, close) UTC instants of the occurrence containing `at`, else the next to open.

    Occurrences that DST leaves empty (both ends inside one gap) are skipped.
    """
    at = _to_utc(at, "at")
    today = at.astimezone(tz).date()
    # Yesterday's occurrence may still be open past midnight; three days cover any DST shift,
    # and the wider range covers zones that skipped a whole calendar day (Pacific/Apia 2011).
    for delta in range(-1, 4):
        day = today + timedelta(days=delta)
        opens = _resolve_local(day, daily.start, tz)
        close_day = day + timedelta(days=1) if daily.crosses_midnight else day
        closes = _resolve_local(close_day, daily.end, tz)
        if closes > opens and closes > at:
            return opens, closes
    raise AssertionError("unreachable: a daily window opens at least every other day")


def _fmt(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def compute_bounds(spec: WindowSpec, now: datetime, run_started: datetime | None = None) -> Bounds:
    """Compute when dispatching may begin (>= now) and when it must stop.

    `start` is the later of `now`, `not_before` and the next opening of the daily window (`now`
    itself when inside it). `end` is the earliest of `not_after`, the close of that same window
    occurrence, and `run_started + max_duration` (`run_started` defaults to `now`). Ties name
    `not_after`, then `window`, then `max_duration`.
    """
    now = _to_utc(now, "now")
    began = now if run_started is None else _to_utc(run_started, "run_started")
    earliest = now
    if spec.not_before is not None:
        earliest = max(earliest, spec.not_before.astimezone(UTC))
    start = earliest
    limits: list[tuple[datetime, EndReason]] = []
    if spec.not_after is not None:
        limits.append((spec.not_after.astimezone(UTC), EndReason.NOT_AFTER))
    if spec.daily is not None:
        opens, closes = window_occurrence(spec.daily, spec.tz, earliest)
        start = max(earliest, opens)
        limits.append((closes, EndReason.WINDOW))
    if spec.max_duration_s is not None:
        limits.append((began + timedelta(seconds=spec.max_duration_s), EndReason.MAX_DURATION))
    end, reason = min(limits, key=lambda lim: lim[0]) if limits else (None, None)
    wait_s = (start - now).total_seconds()
    closed = end is not None and end <= start
    return Bounds(
        start=start,
        end=end,
        wait_s=wait_s,
        reason_at_end=reason,
        closed=closed,
        message=_describe(
            spec, now=now, began=began, start=start, end=end, reason=reason, closed=closed
        ),
    )


def _describe(
    spec: WindowSpec,
    *,
    now: datetime,
    began: datetime,
    start: datetime,
    end: datetime | None,
    reason: EndReason | None,
    closed: bool,
) -> str:
    tz = spec.tz
    if closed and end is not None:
        if reason is EndReason.NOT_AFTER and end <= now:
            return (
                f"nothing can run: --not-after {_fmt(end, tz)} has already passed "
                f"(now {_fmt(now, tz)}); give a later --not-after or drop it"
            )
        if reason is EndReason.NOT_AFTER:
            return (
                f"nothing can run: dispatching could begin at {_fmt(start, tz)}, which is not "
                f"before --not-after {_fmt(end, tz)}; move --not-after later or the window earlier"
            )
        return (
            f"nothing can run: --max-duration {format_duration(spec.max_duration_s or 0)} from "
            f"the run's start at {_fmt(began, tz)} ends at {_fmt(end, tz)}, before dispatching "
            f"could begin at {_fmt(start, tz)}; raise --max-duration or start closer to the window"
        )
    head = (
        "dispatching now"
        if start <= now
        else f"waiting {format_duration((start - now).total_seconds())} until {_fmt(start, tz)}"
    )
    if end is None:
        return f"{head}; no time limit"
    label = {
        EndReason.WINDOW: f"daily window {spec.daily} closes",
        EndReason.NOT_AFTER: "--not-after",
        EndReason.MAX_DURATION: f"--max-duration {format_duration(spec.max_duration_s or 0)}",
    }[reason or EndReason.WINDOW]
    return f"{head}; dispatching stops at {_fmt(end, tz)} ({label})"
