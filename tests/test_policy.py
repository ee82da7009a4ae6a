"""Tests for bulkdel.policy: the response table, exhausted attempts, backoff and Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bulkdel.policy as policy
from bulkdel.models import Action, ApiResponse, Outcome
from bulkdel.policy import (
    Backoff,
    RetryKind,
    Verdict,
    classify,
    parse_retry_after,
    render_table,
    retry_delay,
)

A, OUT, K = Action, Outcome, RetryKind


def verdict(
    status: int | None,
    code: str | None = None,
    *,
    attempt: int = 1,
    max_attempts: int = 6,
    can_refresh: bool = True,
    refreshed: bool = False,
) -> Verdict:
    """Classify a response (attempt 1 of 6, refreshable credential unless told otherwise)."""
    resp = ApiResponse(status, error_code=code, transport_error="reset" if status is None else None)
    return classify(
        resp,
        attempt=attempt,
        max_attempts=max_attempts,
        can_refresh=can_refresh,
        refreshed=refreshed,
    )


@pytest.mark.parametrize(
    ("status", "code", "action", "outcome", "kind"),
    [
        (204, None, A.DONE, OUT.DELETED, K.NONE),
        (200, None, A.DONE, OUT.DELETED, K.NONE),
        (202, None, A.DONE, OUT.DELETED, K.NONE),
        (404, None, A.DONE, OUT.GONE, K.NONE),
        (404, "DC.0002", A.DONE, OUT.GONE, K.NONE),
        (404, "APIGW.0101", A.FAIL, OUT.FAILED, K.NONE),
        (400, "DC.0002", A.DONE, OUT.GONE, K.NONE),
        (400, "dc.0002", A.DONE, OUT.GONE, K.NONE),
        (429, "APIGW.0308", A.RETRY, None, K.THROTTLED),
        (429, None, A.RETRY, None, K.THROTTLED),
        (400, "DC.1118", A.RETRY, None, K.STATE),
        (400, "DC.1205", A.RETRY, None, K.STATE),
        (409, "DC.1210", A.RETRY, None, K.STATE),
        (409, None, A.FAIL, OUT.FAILED, K.NONE),
        (408, None, A.RETRY, None, K.TRANSIENT),
        (401, "APIGW.0301", A.RETRY, None, K.AUTH_REFRESH),
        (403, "APIGW.0302", A.STOP, None, K.NONE),
        (None, None, A.RETRY, None, K.TRANSIENT),
        (500, "DC.0003", A.RETRY, None, K.TRANSIENT),
        (502, None, A.RETRY, None, K.TRANSIENT),
        (503, None, A.RETRY, None, K.TRANSIENT),
        (400, "DC.0001", A.FAIL, OUT.FAILED, K.NONE),
        (400, "DC.9999", A.FAIL, OUT.FAILED, K.NONE),
        (405, None, A.FAIL, OUT.FAILED, K.NONE),
        (301, None, A.FAIL, OUT.FAILED, K.NONE),
    ],
)
def test_table_rows(
    status: int | None, code: str | None, action: Action, outcome: Outcome | None, kind: RetryKind
) -> None:
    """Each response maps to the action, outcome and retry kind the design gives it."""
    v = verdict(status, code)
    assert (v.action, v.outcome, v.kind) == (action, outcome, kind)


def test_401_stops_when_auth_cannot_refresh() -> None:
    """A 401 with a static token stops the run."""
    assert verdict(401, can_refresh=False).action is A.STOP


def test_401_stops_after_one_refresh() -> None:
    """A second 401 after a refresh stops the run instead of looping."""
    assert verdict(401, refreshed=True).action is A.STOP


def test_last_peer_refusal_is_permanent() -> None:
    """The API's last-peer refusal (a 400 with an undocumented code) fails without retry."""
    resp = ApiResponse(400, "DC.1299", "the last peer of a virtual interface cannot be deleted")
    v = classify(resp, attempt=1, max_attempts=6, can_refresh=False, refreshed=False)
    assert (v.action, v.outcome) == (A.FAIL, OUT.FAILED)
    assert "not retried" in v.reason
    assert "DC.1299" in v.reason
    assert "last peer" in v.reason


def test_exhausted_attempts_fail_with_last_status_and_code() -> None:
    """A retryable response on the last attempt fails, naming the attempts, status and code."""
    v = verdict(429, "APIGW.0308", attempt=6, max_attempts=6)
    assert (v.action, v.outcome, v.kind) == (A.FAIL, OUT.FAILED, K.THROTTLED)
    assert v.reason == "attempts exhausted after 6: last status 429 code APIGW.0308"


def test_exhausted_transport_error_names_the_error() -> None:
    """An exhausted transport error says status none and the transport error."""
    v = verdict(None, attempt=3, max_attempts=3)
    assert v.reason == "attempts exhausted after 3: last status none code reset"


def test_non_retry_actions_ignore_attempt_count() -> None:
    """A 204 on the last attempt is still a deletion."""
    assert verdict(204, attempt=9, max_attempts=6).outcome is OUT.DELETED


def test_reason_includes_status_code_and_message() -> None:
    """The verdict's reason carries what the server said, shortened."""
    resp = ApiResponse(400, "DC.0001", "bad  param\n" + "x" * 500)
    reason = classify(resp, attempt=1, max_attempts=6, can_refresh=False, refreshed=False).reason
    assert "400 DC.0001: bad param x" in reason
    assert len(reason) < 300


def test_docstring_shows_the_table() -> None:
    """The module docstring quotes the table exactly as the code has it."""
    rendered = "\n".join(("    " + line).rstrip() for line in render_table().splitlines())
    assert policy.__doc__ is not None
    assert rendered in policy.__doc__


# --- backoff ------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_then_caps() -> None:
    """With rand just under 1 the delay doubles per attempt up to the cap."""
    b = Backoff()
    r = 0.999999
    got = [retry_delay(b, K.TRANSIENT, n, r, None) for n in (1, 2, 3, 4, 10, 1000)]
    assert got[:4] == pytest.approx([0.5, 1.0, 2.0, 4.0], rel=1e-5)
    assert got[4] == pytest.approx(20.0, rel=1e-5)
    assert got[5] == pytest.approx(20.0, rel=1e-5)


def test_state_backoff_is_longer() -> None:
    """Busy-interface codes wait on the longer curve."""
    b = Backoff()
    assert retry_delay(b, K.STATE, 1, 0.999999, None) == pytest.approx(5.0, rel=1e-5)
    assert retry_delay(b, K.STATE, 10, 0.999999, None) == pytest.approx(60.0, rel=1e-5)


def test_throttled_waits_at_least_the_minimum() -> None:
    """A 429 never retries sooner than throttle_min_s, even with zero jitter."""
    assert retry_delay(Backoff(), K.THROTTLED, 1, 0.0, None) == 1.0


def test_retry_after_is_a_floor_and_capped() -> None:
    """Retry-After raises the delay, but an absurd value is capped."""
    b = Backoff()
    assert retry_delay(b, K.THROTTLED, 1, 0.0, 7.0) == 7.0
    assert retry_delay(b, K.TRANSIENT, 1, 0.0, 10.0**9) == 120.0
    assert retry_delay(b, K.TRANSIENT, 10, 0.999999, 0.1) == pytest.approx(20.0, rel=1e-5)


def test_auth_refresh_does_not_wait() -> None:
    """After a token refresh the retry goes at once."""
    assert retry_delay(Backoff(), K.AUTH_REFRESH, 3, 0.9, 30.0) == 0.0


@given(
    kind=st.sampled_from([K.TRANSIENT, K.THROTTLED, K.STATE]),
    attempt=st.integers(1, 10_000),
    rand=st.floats(0.0, 1.0, exclude_max=True),
    retry_after=st.none() | st.floats(0.0, 1e12),
)
def test_retry_delay_bounds(
    kind: RetryKind, attempt: int, rand: float, retry_after: float | None
) -> None:
    """The delay stays within the curve's cap, or within [Retry-After, its cap] when given."""
    b = Backoff()
    d = retry_delay(b, kind, attempt, rand, retry_after)
    cap = b.state_cap_s if kind is K.STATE else b.cap_s
    floor = b.throttle_min_s if kind is K.THROTTLED else 0.0
    if retry_after is None:
        assert floor <= d <= max(cap, floor)
    else:
        assert min(retry_after, b.retry_after_cap_s) <= d <= b.retry_after_cap_s


# --- Retry-After --------------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (None, None),
        ("", None),
        ("-1", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("1e3", None),
        ("Sun, 32 Foo 2026 00:00:00 GMT", None),
    ],
)
def test_parse_retry_after_seconds_and_garbage(value: str | None, expected: float | None) -> None:
    """Delta-seconds parse as seconds; anything else that is not a date is None."""
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_http_date() -> None:
    """An HTTP date becomes seconds from now."""
    value = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(value, NOW) == 30.0


def test_parse_retry_after_past_date_is_zero() -> None:
    """A date in the past means retry now, not a negative wait."""
    value = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(value, NOW) == 0.0


def test_parse_retry_after_naive_now_is_utc() -> None:
    """A naive `now` is read as UTC rather than crashing on the comparison."""
    value = format_datetime(NOW + timedelta(seconds=10), usegmt=True)
    assert parse_retry_after(value, NOW.replace(tzinfo=None)) == 10.0
