"""Retry policy: what to do after each response, and how long to wait (pure).

The first matching row of `TABLE` decides (`none` = transport error, no status; `Nxx` = any
status of that class; `refreshable` = the auth method can refresh and has not yet):

    status   error code               when         action  outcome  retry
    -------  -----------------------  -----------  ------  -------  ------------
    204      *                                     done    deleted
    2xx      *                                     done    deleted
    404      APIGW.0101                            fail    failed
    404      *                                     done    gone
    400      DC.0002                               done    gone
    429      *                                     retry            throttled
    400|409  DC.1118|DC.1205|DC.1210               retry            state
    408      *                                     retry            transient
    401      *                        refreshable  retry            auth_refresh
    401      *                                     stop
    403      *                                     stop
    none     BULKDEL.CREDENTIALS                   stop
    none     *                                     retry            transient
    5xx      *                                     retry            transient
    4xx      *                                     fail    failed
    *        *                                     fail    failed

A `retry` on the last allowed attempt becomes `fail`/`failed` ("attempts exhausted after N").
Choices the design leaves open: another 2xx (200, 202) counts as deleted, since the server
accepted the DELETE and a repeat would only say "gone"; 404 `APIGW.0101` is the gateway saying
the *API* does not exist (wrong endpoint), which must not pass for "peer gone"; 408 is a
timeout, retried like one. 1xx/3xx are unexpected and fail. `test_policy` checks that this
docstring matches `render_table()`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from bulkdel.models import Action, ApiResponse, Outcome


class RetryKind(StrEnum):
    """Why a response is retried; picks the backoff curve."""

    NONE = "none"
    TRANSIENT = "transient"  # 5xx, 408, transport errors
    THROTTLED = "throttled"  # 429
    STATE = "state"  # DC.1118, DC.1205, DC.1210: the interface is busy
    AUTH_REFRESH = "auth_refresh"  # 401 with a refreshable credential


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classification of one response."""

    action: Action
    outcome: Outcome | None  # set for DONE and FAIL
    kind: RetryKind
    reason: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table: a response pattern and what it means."""

    status: str  # "204", "400|409", "5xx", "none" (transport error) or "*"
    codes: tuple[str, ...]  # error codes that must match; empty = any
    action: Action
    outcome: Outcome | None
    kind: RetryKind
    label: str  # start of the verdict's reason
    refreshable: bool = False  # only when the auth can refresh and has not yet


_A, _O, _K = Action, Outcome, RetryKind
_STATE_CODES = ("DC.1118", "DC.1205", "DC.1210")
#: Local pseudo error code: the credential provider (IAM) refused before a request was sent.
CREDENTIALS_REFUSED = "BULKDEL.CREDENTIALS"

#: The policy. First match wins.
# fmt: off
TABLE: tuple[Rule, ...] = (
    Rule("204", (), _A.DONE, _O.DELETED, _K.NONE, "deleted"),
    Rule("2xx", (), _A.DONE, _O.DELETED, _K.NONE, "deleted; success other than 204"),
    Rule("404", ("APIGW.0101",), _A.FAIL, _O.FAILED, _K.NONE,
         "the gateway does not know this API; check --endpoint and --project-id"),
    Rule("404", (), _A.DONE, _O.GONE, _K.NONE, "already gone"),
    Rule("400", ("DC.0002",), _A.DONE, _O.GONE, _K.NONE, "already gone"),
    Rule("429", (), _A.RETRY, None, _K.THROTTLED, "throttled"),
    Rule("400|409", _STATE_CODES, _A.RETRY, None, _K.STATE, "interface busy"),
    Rule("408", (), _A.RETRY, None, _K.TRANSIENT, "server timeout"),
    Rule("401", (), _A.RETRY, None, _K.AUTH_REFRESH, "credential expired", refreshable=True),
    Rule("401", (), _A.STOP, None, _K.NONE, "authentication refused"),
    Rule("403", (), _A.STOP, None, _K.NONE, "permission refused"),
    Rule("none", (CREDENTIALS_REFUSED,), _A.STOP, None, _K.NONE, "credentials refused"),
    Rule("none", (), _A.RETRY, None, _K.TRANSIENT, "transport error"),
    Rule("5xx", (), _A.RETRY, None, _K.TRANSIENT, "server error"),
    Rule("4xx", (), _A.FAIL, _O.FAILED, _K.NONE, "refused; permanent, not retried"),
    Rule("*", (), _A.FAIL, _O.FAILED, _K.NONE, "unexpected status; not retried"),
)
# fmt: on


def _status_matcher(pattern: str) -> Callable[[int | None], bool]:
    if pattern == "*":
        return lambda s: True
    if pattern == "none":
        return lambda s: s is None
    if pattern.endswith("xx"):
        klass = int(pattern[0])
        return lambda s: s is not None and s // 100 == klass
    wanted = frozenset(int(p) for p in pattern.split("|"))
    return lambda s: s in wanted


_DELETED = Verdict(Action.DONE, Outcome.DELETED, RetryKind.NONE, "deleted (204)")
_COMPILED = tuple((_status_matcher(r.status), frozenset(r.codes), r) for r in TABLE)


def render_table() -> str:
    """The table as aligned text (it is quoted in this module's docstring)."""
    head = ("status", "error code", "when", "action", "outcome", "retry")
    rows = [
        (
            r.status,
            "|".join(r.codes) or "*",
            "refreshable" if r.refreshable else "",
            r.action.value,
            r.outcome.value if r.outcome else "",
            "" if r.kind is RetryKind.NONE else r.kind.value,
        )
        for r in TABLE
    ]
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]
    lines = [head, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def describe(resp: ApiResponse) -> str:
    """A short `status code: message` summary of a response for reasons and logs."""
    if resp.status is None:
        text = f"transport error: {resp.transport_error or 'unknown'}"
    else:
        text = str(resp.status)
        if resp.error_code:
            text += f" {resp.error_code}"
    if resp.error_msg:
        msg = " ".join(resp.error_msg.split())
        text += f": {msg[:200]}" + ("..." if len(msg) > 200 else "")
    return text


def classify(
    resp: ApiResponse, *, attempt: int, max_attempts: int, can_refresh: bool, refreshed: bool
) -> Verdict:
    """Map one response to an action by `TABLE`; a retry past `max_attempts` fails instead."""
    if resp.status == 204:  # the common case, first row of the table, without the scan
        return _DELETED
    code = (resp.error_code or "").strip().upper()
    for matches, codes, rule in _COMPILED:
        if not matches(resp.status):
            continue
        if codes and code not in codes:
            continue
        if rule.refreshable and not (can_refresh and not refreshed):
            continue
        break
    else:  # pragma: no cover - the last row matches everything
        raise AssertionError("policy table has no catch-all row")
    if rule.action is Action.RETRY and attempt >= max_attempts:
        status = "none" if resp.status is None else str(resp.status)
        last_code = resp.error_code or resp.transport_error or "none"
        return Verdict(
            Action.FAIL,
            Outcome.FAILED,
            rule.kind,
            f"attempts exhausted after {attempt}: last status {status} code {last_code}",
        )
    return Verdict(rule.action, rule.outcome, rule.kind, f"{rule.label} ({describe(resp)})")


# --- backoff ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff:
    """Backoff curves, in seconds."""

    base_s: float = 0.5
    cap_s: float = 20.0
    state_base_s: float = 5.0  # a busy interface needs seconds, not milliseconds
    state_cap_s: float = 60.0
    throttle_min_s: float = 1.0  # the gateway counts per second: retrying sooner is wasted
    retry_after_cap_s: float = 120.0  # a server asking for hours is not obeyed blindly


def retry_delay(
    b: Backoff, kind: RetryKind, attempt: int, rand: float, retry_after_s: float | None
) -> float:
    """Seconds to wait before retry number `attempt` (1-based): capped exponential, full jitter.

    `rand` is a uniform draw in [0, 1). A server `Retry-After` is a floor, capped at
    `retry_after_cap_s`. THROTTLED waits at least `throttle_min_s`; AUTH_REFRESH does not wait.
    """
    if kind in (RetryKind.AUTH_REFRESH, RetryKind.NONE):
        return 0.0
    base, cap = (b.state_base_s, b.state_cap_s) if kind is RetryKind.STATE else (b.base_s, b.cap_s)
    exponent = min(max(attempt, 1) - 1, 62)  # 2**62 * base is past any cap; avoids overflow
    ceiling = min(cap, base * 2.0**exponent)
    delay = min(max(rand, 0.0), 1.0) * ceiling
    if kind is RetryKind.THROTTLED:
        delay = max(delay, b.throttle_min_s)
    if retry_after_s is not None and math.isfinite(retry_after_s) and retry_after_s > 0:
        delay = max(delay, min(retry_after_s, b.retry_after_cap_s))
    return delay


_DELTA_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date; else None.

    A date in the past gives 0. `now` should be aware UTC; a naive one is taken as UTC.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
