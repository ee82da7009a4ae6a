"""The audit log: schema v1 records, building and reading them.

Pure core: record builders, `new_run_id`. The writer (`bulkdel.auditfile`), the line encoding
(`bulkdel.encoding`) and the reading side (`bulkdel.auditread`: `decode_lines`, `iter_audit`,
`read_audit`, ...) are re-exported here, so `audit.AuditWriter.open(...)`, `audit.encode(...)`
and `audit.iter_audit(...)` keep working.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bulkdel.auditfile import AuditWriter, FsyncPolicy, LockInfo
from bulkdel.encoding import encode, format_ts
from bulkdel.models import Action, Outcome, StopReason

__all__ = [
    "EVENT_FIELDS",
    "MAX_ERROR_MSG",
    "MAX_SERVER_TOKEN",
    "REQUIRED_SETTINGS",
    "SCHEMA_VERSION",
    "AuditRead",
    "AuditWriter",
    "FsyncPolicy",
    "LockInfo",
    "ReadReport",
    "decode_block",
    "decode_lines",
    "dispatch",
    "encode",
    "final",
    "format_ts",
    "iter_audit",
    "iter_blocks",
    "iter_records",
    "new_run_id",
    "read_audit",
    "response",
    "run_finished",
    "run_started",
]

SCHEMA_VERSION = 1
#: Server-supplied text is capped: a hostile or broken server may send megabytes.
MAX_ERROR_MSG = 500
MAX_SERVER_TOKEN = 200  # error_code, request_id
#: Keys every `run_started.settings` must have (DESIGN, "Contract details").
REQUIRED_SETTINGS = frozenset({"rate", "burst", "concurrency", "per_interface", "max_attempts"})

_HEAD = ("v", "ts", "run", "event")
_HEAD_SET = frozenset(_HEAD)
#: Fields each event must carry (checked on read; unknown events are passed through).
EVENT_FIELDS: dict[str, frozenset[str]] = {
    "run_started": frozenset(
        {*_HEAD, "version", "project_id", "endpoint", "inventory", "inventory_sha256"}
        | {"settings", "planned", "resumed_from"}
    ),
    "dispatch": frozenset({*_HEAD, "peer_id", "vif_id", "attempt"}),
    "response": frozenset(
        {*_HEAD, "peer_id", "vif_id", "attempt", "status", "error_code", "error_msg"}
        | {"request_id", "elapsed_ms", "action", "retry_in_s"}
    ),
    "final": frozenset({*_HEAD, "peer_id", "vif_id", "outcome", "reason", "attempts"}),
    "run_finished": frozenset({*_HEAD, "counts", "duration_s", "exit_code", "stop_reason"}),
}


# --- time and identity ----------------------------------------------------------------------


def new_run_id(now: datetime, rand: random.Random | bytes) -> str:
    """A run ID that sorts by start time: `20261203T010203Z-a1b2c3` (24 random bits)."""
    if now.tzinfo is None:
        raise ValueError("new_run_id needs a timezone-aware datetime")
    if isinstance(rand, bytes):
        if len(rand) < 3:
            raise ValueError("new_run_id needs at least 3 random bytes")
        suffix = rand[:3].hex()
    else:
        suffix = f"{rand.getrandbits(24):06x}"
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ-") + suffix


# --- record builders (pure) -----------------------------------------------------------------


def _ts(ts: datetime | str) -> str:
    return ts if isinstance(ts, str) else format_ts(ts)


def _cap(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"  # the ellipsis tells the reader it was cut


def _extra(rec: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key in extra:
        if key in rec:
            raise ValueError(f"extra field {key!r} would overwrite a schema field")
    rec.update(extra)
    return rec


def _str_map(counts: Mapping[str, int]) -> dict[str, int]:
    return {str(k): int(n) for k, n in counts.items()}  # str() turns StrEnum keys into values


def run_started(
    run: str,
    ts: datetime | str,
    *,
    version: str,
    project_id: str,
    endpoint: str,
    inventory: str | None,
    inventory_sha256: str | None,
    settings: Mapping[str, Any],
    planned: Mapping[str, int],
    resumed_from: list[str] | None,
    **extra: Any,
) -> dict[str, Any]:
    """The first record of a run; extra fields (e.g. `plan_sha256`, `command`) follow."""
    missing = REQUIRED_SETTINGS - settings.keys()
    if missing:
        raise ValueError(f"run_started.settings lacks {sorted(missing)}")
    rec = {
        "v": SCHEMA_VERSION,
        "ts": _ts(ts),
        "run": run,
        "event": "run_started",
        "version": version,
        "project_id": project_id,
        "endpoint": endpoint,
        "inventory": inventory,
        "inventory_sha256": inventory_sha256,
        "settings": dict(settings),
        "planned": _str_map(planned),
        "resumed_from": None if resumed_from is None else list(resumed_from),
    }
    return _extra(rec, extra) if extra else rec


def dispatch(
    run: str, ts: datetime | str, *, peer_id: str, vif_id: str | None, attempt: int, **extra: Any
) -> dict[str, Any]:
    """Written (and flushed) before a DELETE leaves."""
    rec = {
        "v": SCHEMA_VERSION,
        "ts": _ts(ts),
        "run": run,
        "event": "dispatch",
        "peer_id": peer_id,
        "vif_id": vif_id,
        "attempt": attempt,
    }
    return _extra(rec, extra) if extra else rec


def response(
    run: str,
    ts: datetime | str,
    *,
    peer_id: str,
    vif_id: str | None,
    attempt: int,
    status: int | None,
    error_code: str | None,
    error_msg: str | None,
    request_id: str | None,
    elapsed_ms: float | None,
    action: Action,
    retry_in_s: float | None,
    **extra: Any,
) -> dict[str, Any]:
    """One answer (or transport error, `status` None); server text is capped in length."""
    rec = {
        "v": SCHEMA_VERSION,
        "ts": _ts(ts),
        "run": run,
        "event": "response",
        "peer_id": peer_id,
        "vif_id": vif_id,
        "attempt": attempt,
        "status": status,
        "error_code": _cap(error_code, MAX_SERVER_TOKEN),
        "error_msg": _cap(error_msg, MAX_ERROR_MSG),
        "request_id": _cap(request_id, MAX_SERVER_TOKEN),
        "elapsed_ms": elapsed_ms,
        # str() of a StrEnum member is its value, and cheaper than `.value`.
        "action": str(action) if type(action) is Action else Action(action).value,
        "retry_in_s": retry_in_s,
    }
    return _extra(rec, extra) if extra else rec


def final(
    run: str,
    ts: datetime | str,
    *,
    peer_id: str,
    vif_id: str | None,
    outcome: Outcome,
    reason: str,
    attempts: int,
    **extra: Any,
) -> dict[str, Any]:
    """Exactly one per requested peer per run."""
    rec = {
        "v": SCHEMA_VERSION,
        "ts": _ts(ts),
        "run": run,
        "event": "final",
        "peer_id": peer_id,
        "vif_id": vif_id,
        "outcome": str(outcome) if type(outcome) is Outcome else Outcome(outcome).value,
        "reason": reason,
        "attempts": attempts,
    }
    return _extra(rec, extra) if extra else rec


def run_finished(
    run: str,
    ts: datetime | str,
    *,
    counts: Mapping[str, int],
    duration_s: float,
    exit_code: int,
    stop_reason: StopReason,
    **extra: Any,
) -> dict[str, Any]:
    """The last record of a run that ended on its own terms."""
    rec = {
        "v": SCHEMA_VERSION,
        "ts": _ts(ts),
        "run": run,
        "event": "run_finished",
        "counts": _str_map(counts),
        "duration_s": duration_s,
        "exit_code": exit_code,
        "stop_reason": StopReason(stop_reason).value,
    }
    return _extra(rec, extra) if extra else rec


# The reading side lives in bulkdel.auditread (which imports the schema above from here,
# after its own definitions: either module can be imported first).
from bulkdel.auditread import (  # noqa: E402
    AuditRead,
    ReadReport,
    decode_block,
    decode_lines,
    iter_audit,
    iter_blocks,
    iter_records,
    read_audit,
)
