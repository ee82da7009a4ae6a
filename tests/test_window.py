"""Tests for bulkdel.window: parsing of window options and computing run bounds."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdel.errors import UsageError
from bulkdel.window import (
    UTC_ZONE,
    DailyWindow,
    EndReason,
    WindowSpec,
    compute_bounds,
    format_duration,
    parse_daily_window,
    parse_duration,
    parse_timestamp,
    parse_tz,
    spec_from_options,
    window_occurrence,
)

BERLIN = ZoneInfo("Europe/Berlin")


def utc(text: str) -> datetime:
    """Shorthand: an aware UTC datetime from an ISO string without zone."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def berlin(text: str, fold: int = 0) -> datetime:
    """Shorthand: a Berlin wall-clock time as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN, fold=fold).astimezone(UTC)


# --- parse_duration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45.0),
        ("90m", 5400.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1m500ms", 60.5),
        ("1d", 86400.0),
        ("30", 30.0),
        ("2.5", 2.5),
        ("1.5h", 5400.0),
        (" 2H ", 7200.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration_accepts_documented_forms(text: str, seconds: float) -> None:
    """Every documented duration form parses to the right number of seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "2x", "-5s", "1h1h", "1e3", "2 h", "inf", "9" * 400])
def test_parse_duration_rejects_garbage_with_examples(text: str) -> None:
    """Invalid durations raise UsageError that shows valid forms."""
    with pytest.raises(UsageError, match="45s"):
        parse_duration(text)


def test_parse_duration_names_the_option() -> None:
    """The error names the option the operator typed."""
    with pytest.raises(UsageError, match="--max-duration"):
        parse_duration("soon", option="--max-duration")


@given(h=st.integers(0, 99), m=st.integers(0, 59), s=st.integers(0, 59))
def test_parse_duration_compound_is_sum_of_parts(h: int, m: int, s: int) -> None:
    """`XhYmZs` equals the sum of its parts."""
    assert parse_duration(f"{h}h{m}m{s}s") == h * 3600 + m * 60 + s


@given(st.integers(0, 10 * 86400))
def test_format_duration_round_trips_through_parse(seconds: int) -> None:
    """What format_duration prints, parse_duration reads back."""
    assert parse_duration(format_duration(seconds)) == seconds


# --- parse_timestamp ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03T01:00:00Z", utc("2026-12-03T01:00:00")),
        ("2026-12-03T02:00:00+01:00", utc("2026-12-03T01:00:00")),
        ("2026-12-02T20:00:00-05:00", utc("2026-12-03T01:00:00")),
        ("2026-12-03T01:00:00.5Z", utc("2026-12-03T01:00:00.500000")),
        ("2026-12-03T01:00:00.123456789Z", utc("2026-12-03T01:00:00.123456")),
        ("2026-12-03t01:00:00z", utc("2026-12-03T01:00:00")),
        ("2026-12-03 01:00:00Z", utc("2026-12-03T01:00:00")),
        ("2026-12-03T01:00Z", utc("2026-12-03T01:00:00")),
        ("2026-12-03T02:00:00+0100", utc("2026-12-03T01:00:00")),
    ],
)
def test_parse_timestamp_accepts_rfc3339(text: str, expected: datetime) -> None:
    """RFC 3339 timestamps with Z or an offset become the same UTC instant."""
    got = parse_timestamp(text)
    assert got == expected
    assert got.utcoffset() == timedelta(0)


def test_parse_timestamp_refuses_naive_and_says_to_add_zone() -> None:
    """A timestamp without a zone is refused with a hint to add Z or an offset."""
    with pytest.raises(UsageError, match="add Z") as info:
        parse_timestamp("2026-12-03T01:00:00", option="--not-before")
    assert "--not-before" in str(info.value)
    assert "2026-12-03T01:00:00Z" in str(info.value)


@pytest.mark.parametrize(
    "text",
    ["tomorrow", "2026-12-03", "2026-13-03T01:00:00Z", "2026-02-30T01:00:00Z",
     "2026-12-03T25:00:00Z", "2026-12-03T01:00:00+24:00", "1764723600"],
)  # fmt: skip
def test_parse_timestamp_rejects_invalid(text: str) -> None:
    """Malformed or impossible timestamps raise UsageError with an example."""
    with pytest.raises(UsageError, match="2026-12-03T01:00:00Z"):
        parse_timestamp(text)


@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(1900, 1, 2)))
def test_parse_timestamp_round_trips_isoformat(moment: datetime) -> None:
    """Any aware datetime's isoformat parses back to the same instant."""
    assert parse_timestamp(moment.isoformat()) == moment


# --- parse_tz ----------------------------------------------------------------------------------


def test_tz_database_is_available() -> None:
    """The machine has an IANA database, so Europe/Berlin resolves with DST."""
    tz = parse_tz("Europe/Berlin")
    assert datetime(2026, 7, 1, tzinfo=tz).utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize("name", ["UTC", "utc", "Z"])
def test_parse_tz_utc_aliases(name: str) -> None:
    """UTC spellings map to the UTC zone."""
    assert parse_tz(name) is UTC_ZONE


@pytest.mark.parametrize("name", ["Mars/Olympus", "Europe", "", "../etc/passwd", "/etc/localtime"])
def test_parse_tz_rejects_unknown(name: str) -> None:
    """Unknown or malformed zone names are a UsageError with examples."""
    with pytest.raises(UsageError, match="Europe/Berlin"):
        parse_tz(name)


# --- parse_daily_window ------------------------------------------------------------------------


def test_parse_daily_window_simple_and_midnight_crossing() -> None:
    """Both plain and midnight-crossing windows parse; 24:00 ends at midnight."""
    assert parse_daily_window("01:00-05:00") == DailyWindow(time(1), time(5))
    crossing = parse_daily_window("22:00-04:00")
    assert crossing.crosses_midnight
    assert parse_daily_window("22:00-24:00") == DailyWindow(time(22), time(0))
    assert parse_daily_window(" 7:05 - 9:30 ") == DailyWindow(time(7, 5), time(9, 30))
    assert str(crossing) == "22:00-04:00"


@pytest.mark.parametrize(
    "text", ["", "01:00", "01:00-", "1-5", "25:00-04:00", "01:60-02:00", "24:00-01:00", "a-b",
             "01:00-02:00-03:00"],
)  # fmt: skip
def test_parse_daily_window_rejects_invalid(text: str) -> None:
    """Malformed windows raise UsageError that shows the HH:MM-HH:MM form."""
    with pytest.raises(UsageError, match="HH:MM-HH:MM"):
        parse_daily_window(text)


def test_parse_daily_window_rejects_equal_ends() -> None:
    """A window whose start equals its end is refused (ambiguous: empty or all day)."""
    with pytest.raises(UsageError, match="equal"):
        parse_daily_window("03:00-03:00")


def test_daily_window_contains() -> None:
    """contains() is start-inclusive, end-exclusive, and wraps past midnight."""
    w = parse_daily_window("22:00-04:00")
    assert w.contains(time(22))
    assert w.contains(time(0))
    assert w.contains(time(3, 59))
    assert not w.contains(time(4))
    assert not w.contains(time(12))


# --- WindowSpec / spec_from_options ------------------------------------------------------------


def test_spec_from_options_builds_every_field() -> None:
    """Raw option strings become a complete WindowSpec."""
    spec = spec_from_options(
        not_before="2026-12-03T01:00:00Z",
        not_after="2026-12-03T05:00:00+01:00",
        window="01:00-03:00",
        tz="Europe/Berlin",
        max_duration="90m",
    )
    assert spec.not_before == utc("2026-12-03T01:00:00")
    assert spec.not_after == utc("2026-12-03T04:00:00")
    assert spec.daily == DailyWindow(time(1), time(3))
    assert spec.tz == BERLIN
    assert spec.max_duration_s == 5400.0
    assert not spec.unrestricted
    assert spec_from_options().unrestricted


def test_spec_refuses_not_before_after_not_after() -> None:
    """--not-before at or after --not-after is a usage error."""
    with pytest.raises(UsageError, match="--not-before"):
        spec_from_options(not_before="2026-12-03T05:00:00Z", not_after="2026-12-03T01:00:00Z")


def test_spec_refuses_zero_max_duration() -> None:
    """--max-duration 0 would never run anything; it is refused."""
    with pytest.raises(UsageError, match="--max-duration"):
        spec_from_options(max_duration="0s")


def test_spec_refuses_naive_datetimes() -> None:
    """Programmatic naive datetimes are a programming error, not a guess."""
    with pytest.raises(ValueError, match="aware"):
        WindowSpec(not_before=datetime(2026, 1, 1))


# --- compute_bounds: examples ------------------------------------------------------------------


def test_unrestricted_starts_now_without_end() -> None:
    """No limits: start now, no end, nothing to wait for."""
    now = utc("2026-12-03T01:00:00")
    b = compute_bounds(WindowSpec(), now)
    assert (b.start, b.end, b.wait_s, b.reason_at_end, b.closed) == (now, None, 0.0, None, False)
    assert b.remaining_s(now) is None


def test_not_before_in_future_waits() -> None:
    """A future --not-before delays the start and sets wait_s."""
    now = utc("2026-12-03T00:00:00")
    spec = WindowSpec(not_before=utc("2026-12-03T01:30:00"), not_after=utc("2026-12-03T03:00:00"))
    b = compute_bounds(spec, now)
    assert b.start == utc("2026-12-03T01:30:00")
    assert b.wait_s == 5400.0
    assert b.end == utc("2026-12-03T03:00:00")
    assert b.reason_at_end is EndReason.NOT_AFTER
    assert str(b.reason_at_end) == "not_after"
    assert b.remaining_s(utc("2026-12-03T02:00:00")) == 3600.0
    assert "waiting 1h30m" in b.message


def test_not_before_in_past_starts_now() -> None:
    """A past --not-before does not move the start before now."""
    now = utc("2026-12-03T02:00:00")
    b = compute_bounds(WindowSpec(not_before=utc("2026-12-03T01:00:00")), now)
    assert b.start == now
    assert b.wait_s == 0.0


def test_not_after_passed_is_closed() -> None:
    """A --not-after in the past means nothing can run, with a message saying so."""
    now = utc("2026-12-03T02:00:00")
    b = compute_bounds(WindowSpec(not_after=utc("2026-12-03T01:00:00")), now)
    assert b.closed
    assert "already passed" in b.message
    assert b.remaining_s(now) == 0.0


def test_inside_daily_window_starts_now_and_ends_at_close() -> None:
    """Inside today's window: start now, end at this occurrence's close."""
    spec = WindowSpec(daily=parse_daily_window("01:00-05:00"))
    b = compute_bounds(spec, utc("2026-12-03T02:00:00"))
    assert b.start == utc("2026-12-03T02:00:00")
    assert b.end == utc("2026-12-03T05:00:00")
    assert b.reason_at_end is EndReason.WINDOW


def test_after_daily_window_waits_for_tomorrow() -> None:
    """After today's window closed, the start is tomorrow's opening."""
    spec = WindowSpec(daily=parse_daily_window("01:00-05:00"))
    b = compute_bounds(spec, utc("2026-12-03T06:00:00"))
    assert b.start == utc("2026-12-04T01:00:00")
    assert b.end == utc("2026-12-04T05:00:00")
    assert b.wait_s == 19 * 3600


def test_window_end_instant_is_outside() -> None:
    """At exactly the close time the window is over; the next one is tomorrow."""
    spec = WindowSpec(daily=parse_daily_window("01:00-05:00"))
    b = compute_bounds(spec, utc("2026-12-03T05:00:00"))
    assert b.start == utc("2026-12-04T01:00:00")


def test_midnight_crossing_window_after_midnight_uses_yesterdays_occurrence() -> None:
    """At 02:00 inside 22:00-04:00, the occurrence opened yesterday and closes at 04:00."""
    spec = WindowSpec(daily=parse_daily_window("22:00-04:00"))
    b = compute_bounds(spec, utc("2026-12-03T02:00:00"))
    assert b.start == utc("2026-12-03T02:00:00")
    assert b.end == utc("2026-12-03T04:00:00")


def test_midnight_crossing_window_before_opening() -> None:
    """At noon, 22:00-04:00 opens tonight and closes tomorrow at 04:00."""
    spec = WindowSpec(daily=parse_daily_window("22:00-04:00"))
    b = compute_bounds(spec, utc("2026-12-03T12:00:00"))
    assert b.start == utc("2026-12-03T22:00:00")
    assert b.end == utc("2026-12-04T04:00:00")


def test_window_in_local_time_zone() -> None:
    """Window times are wall-clock times in --tz, not UTC."""
    spec = WindowSpec(daily=parse_daily_window("01:00-05:00"), tz=BERLIN)
    b = compute_bounds(spec, utc("2026-12-03T12:00:00"))
    assert b.start == utc("2026-12-04T00:00:00")  # 01:00 CET
    assert "CET" in b.message


def test_not_before_picks_window_after_it() -> None:
    """With --not-before after today's window, the start is the next opening after it."""
    spec = WindowSpec(
        not_before=utc("2026-12-03T06:00:00"), daily=parse_daily_window("01:00-05:00")
    )
    b = compute_bounds(spec, utc("2026-12-03T02:00:00"))
    assert b.start == utc("2026-12-04T01:00:00")


def test_not_before_inside_window_starts_at_not_before() -> None:
    """A --not-before that falls inside the window starts exactly then."""
    spec = WindowSpec(
        not_before=utc("2026-12-03T03:00:00"), daily=parse_daily_window("01:00-05:00")
    )
    b = compute_bounds(spec, utc("2026-12-03T00:00:00"))
    assert b.start == utc("2026-12-03T03:00:00")
    assert b.end == utc("2026-12-03T05:00:00")


def test_not_after_before_next_opening_is_closed() -> None:
    """If the next window opens only after --not-after, nothing can run."""
    spec = WindowSpec(not_after=utc("2026-12-03T20:00:00"), daily=parse_daily_window("22:00-04:00"))
    b = compute_bounds(spec, utc("2026-12-03T12:00:00"))
    assert b.closed
    assert b.reason_at_end is EndReason.NOT_AFTER
    assert "--not-after" in b.message


def test_not_after_cuts_window_short() -> None:
    """A --not-after inside the window ends the run there."""
    spec = WindowSpec(not_after=utc("2026-12-03T02:00:00"), daily=parse_daily_window("01:00-05:00"))
    b = compute_bounds(spec, utc("2026-12-03T01:30:00"))
    assert b.end == utc("2026-12-03T02:00:00")
    assert b.reason_at_end is EndReason.NOT_AFTER


def test_max_duration_counts_from_run_start() -> None:
    """--max-duration is measured from run_started, not from the current call."""
    spec = WindowSpec(max_duration_s=3600)
    started = utc("2026-12-03T01:00:00")
    b = compute_bounds(spec, utc("2026-12-03T01:40:00"), run_started=started)
    assert b.end == utc("2026-12-03T02:00:00")
    assert b.reason_at_end is EndReason.MAX_DURATION
    assert b.remaining_s(utc("2026-12-03T01:40:00")) == 1200.0


def test_max_duration_defaults_to_now() -> None:
    """Without run_started, --max-duration counts from now."""
    b = compute_bounds(WindowSpec(max_duration_s=90), utc("2026-12-03T01:00:00"))
    assert b.end == utc("2026-12-03T01:01:30")


def test_max_duration_expired_before_window_opens_is_closed() -> None:
    """A max duration that ends before the window opens leaves nothing to run."""
    spec = WindowSpec(daily=parse_daily_window("22:00-04:00"), max_duration_s=7200)
    b = compute_bounds(spec, utc("2026-12-03T12:00:00"))
    assert b.closed
    assert b.reason_at_end is EndReason.MAX_DURATION
    assert "--max-duration 2h" in b.message


def test_earliest_limit_wins() -> None:
    """The end is the earliest of window close, --not-after and max duration."""
    spec = WindowSpec(
        not_after=utc("2026-12-03T04:00:00"),
        daily=parse_daily_window("01:00-05:00"),
        max_duration_s=1800,
    )
    b = compute_bounds(spec, utc("2026-12-03T01:00:00"))
    assert b.end == utc("2026-12-03T01:30:00")
    assert b.reason_at_end is EndReason.MAX_DURATION


def test_naive_now_is_refused() -> None:
    """compute_bounds never guesses a zone for `now`."""
    with pytest.raises(ValueError, match="aware"):
        compute_bounds(WindowSpec(), datetime(2026, 1, 1))


# --- compute_bounds: DST (Europe/Berlin) ------------------------------------------------------


def test_spring_forward_window_ending_in_gap_closes_at_jump() -> None:
    """01:30-02:30 on 2026-03-29: 02:30 does not exist; the window closes at the jump (03:00)."""
    spec = WindowSpec(daily=parse_daily_window("01:30-02:30"), tz=BERLIN)
    b = compute_bounds(spec, berlin("2026-03-29T00:00:00"))
    assert b.start == berlin("2026-03-29T01:30:00")
    assert b.end == berlin("2026-03-29T03:00:00")
    assert (b.end - b.start) == timedelta(minutes=30)


def test_spring_forward_window_opening_in_gap_opens_at_jump() -> None:
    """02:30-04:00 on 2026-03-29 opens at 03:00 CEST, when the clock first passes 02:30."""
    spec = WindowSpec(daily=parse_daily_window("02:30-04:00"), tz=BERLIN)
    b = compute_bounds(spec, berlin("2026-03-29T00:00:00"))
    assert b.start == utc("2026-03-29T01:00:00")
    assert b.end == utc("2026-03-29T02:00:00")


def test_spring_forward_window_wholly_in_gap_skips_the_day() -> None:
    """A window lying inside the skipped hour does not occur that day."""
    spec = WindowSpec(daily=parse_daily_window("02:10-02:40"), tz=BERLIN)
    b = compute_bounds(spec, berlin("2026-03-29T00:00:00"))
    assert b.start == berlin("2026-03-30T02:10:00")


def test_fall_back_window_closes_at_first_occurrence() -> None:
    """01:00-02:30 on 2026-10-25 closes at the first 02:30 (CEST), never the repeat."""
    spec = WindowSpec(daily=parse_daily_window("01:00-02:30"), tz=BERLIN)
    b = compute_bounds(spec, berlin("2026-10-25T00:30:00"))
    assert b.start == berlin("2026-10-25T01:00:00")
    assert b.end == utc("2026-10-25T00:30:00")  # 02:30 CEST


def test_fall_back_window_stays_open_through_repeated_hour() -> None:
    """02:30-03:30 on 2026-10-25 is one interval: 02:30 CEST until 03:30 CET, two real hours."""
    spec = WindowSpec(daily=parse_daily_window("02:30-03:30"), tz=BERLIN)
    inside_repeat = berlin("2026-10-25T02:10:00", fold=1)  # 02:10 CET, the clock's second pass
    b = compute_bounds(spec, inside_repeat)
    assert b.start == inside_repeat
    assert b.end == berlin("2026-10-25T03:30:00")
    assert b.end - berlin("2026-10-25T02:30:00") == timedelta(hours=2)


def test_fall_back_overnight_window_lasts_an_hour_longer() -> None:
    """22:00-04:00 across the fall-back night spans seven real hours."""
    spec = WindowSpec(daily=parse_daily_window("22:00-04:00"), tz=BERLIN)
    b = compute_bounds(spec, berlin("2026-10-24T12:00:00"))
    assert b.end is not None
    assert b.end - b.start == timedelta(hours=7)


def test_day_skipped_by_zone_change() -> None:
    """Pacific/Apia skipped 2011-12-30 entirely; the next window is on the 31st."""
    apia = ZoneInfo("Pacific/Apia")
    daily = parse_daily_window("09:00-10:00")
    opens, closes = window_occurrence(daily, apia, utc("2011-12-29T21:00:00"))
    assert opens.astimezone(apia).date().isoformat() == "2011-12-31"
    assert closes - opens == timedelta(hours=1)


# --- compute_bounds: properties ----------------------------------------------------------------

ZONES = st.sampled_from(
    [UTC_ZONE, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe"),
     ZoneInfo("Asia/Kathmandu"), ZoneInfo("America/Santiago")]
)  # fmt: skip
MOMENTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
CLOCKS = st.builds(time, st.integers(0, 23), st.sampled_from([0, 1, 15, 30, 45, 59]))


@st.composite
def specs(draw: st.DrawFn) -> tuple[WindowSpec, datetime, datetime | None]:
    """A random spec, a `now`, and maybe an earlier run start."""
    now = draw(MOMENTS)
    offsets = st.none() | st.integers(-3 * 86400, 3 * 86400).map(lambda s: timedelta(seconds=s))
    nb, na = draw(offsets), draw(offsets)
    not_before = None if nb is None else now + nb
    not_after = None if na is None else now + na
    if not_before is not None and not_after is not None and not_before >= not_after:
        not_after = not_before + timedelta(seconds=draw(st.integers(1, 86400)))
    start_t, end_t = draw(CLOCKS), draw(CLOCKS)
    daily = None if start_t == end_t or draw(st.booleans()) else DailyWindow(start_t, end_t)
    max_d = draw(st.none() | st.floats(1, 3 * 86400))
    started = draw(st.none() | st.integers(0, 86400).map(lambda s: now - timedelta(seconds=s)))
    spec = WindowSpec(not_before, not_after, daily, draw(ZONES), max_d)
    return spec, now, started


def _ambiguous(moment: datetime, tz: ZoneInfo) -> bool:
    """Whether the wall time of `moment` in `tz` occurs twice (a fall-back hour)."""
    local = moment.astimezone(tz)
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


@settings(max_examples=400, deadline=None)
@given(specs())
def test_bounds_invariants(case: tuple[WindowSpec, datetime, datetime | None]) -> None:
    """start >= now and >= not_before; end > start unless closed; wait_s matches start."""
    spec, now, started = case
    b = compute_bounds(spec, now, run_started=started)
    assert b.start >= now
    assert b.wait_s == (b.start - now).total_seconds() >= 0
    if spec.not_before is not None:
        assert b.start >= spec.not_before
    assert (b.end is None) == (
        spec.not_after is None and spec.daily is None and spec.max_duration_s is None
    )
    if not b.closed and b.end is not None:
        assert b.end > b.start
    if b.closed:
        assert b.end is not None
        assert b.end <= b.start
        assert b.message.startswith("nothing can run")
    if b.end is not None and spec.not_after is not None:
        assert b.end <= spec.not_after
    if spec.max_duration_s is not None and b.end is not None:
        began = started or now
        assert b.end <= began + timedelta(seconds=spec.max_duration_s)


@settings(max_examples=400, deadline=None)
@given(specs())
def test_start_and_end_lie_in_the_daily_window(
    case: tuple[WindowSpec, datetime, datetime | None],
) -> None:
    """The wall clock at start (and just before end) reads inside the daily window."""
    spec, now, started = case
    if spec.daily is None:
        return
    b = compute_bounds(spec, now, run_started=started)
    assert b.end is not None
    # In a repeated (fall-back) hour the window stays open continuously; see the example test.
    if not _ambiguous(b.start, spec.tz):
        assert spec.daily.contains(b.start.astimezone(spec.tz).time())
    if b.reason_at_end is EndReason.WINDOW:
        last = b.end - timedelta(seconds=1)
        assert spec.daily.contains(last.astimezone(spec.tz).time())


@settings(max_examples=400, deadline=None)
@given(specs())
def test_start_is_earliest_possible(case: tuple[WindowSpec, datetime, datetime | None]) -> None:
    """If the start is later than now and not_before, the second before it is outside the window."""
    spec, now, _ = case
    b = compute_bounds(spec, now)
    earliest = max(now, spec.not_before or now)
    if spec.daily is None:
        assert b.start == earliest
    elif b.start > earliest:
        before = b.start - timedelta(seconds=1)
        assert not spec.daily.contains(before.astimezone(spec.tz).time())
    else:
        assert spec.daily.contains(earliest.astimezone(spec.tz).time())


@settings(max_examples=200, deadline=None)
@given(now=MOMENTS, start=CLOCKS, hours=st.integers(1, 23), tz=ZONES)
def test_midnight_crossing_window_spans_expected_length(
    now: datetime, start: time, hours: int, tz: ZoneInfo
) -> None:
    """A window's occurrence lasts its nominal length, give or take a DST shift."""
    end = time((start.hour + hours) % 24, start.minute)
    daily = DailyWindow(start, end)
    opens, closes = window_occurrence(daily, tz, now)
    assert closes > now
    assert abs((closes - opens) - timedelta(hours=hours)) <= timedelta(hours=1)
