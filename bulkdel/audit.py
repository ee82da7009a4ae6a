"""The audit log: schema v1 records, their encoding and decoding, and the one writer.

Pure core: record builders, `format_ts`, `new_run_id`, `encode`, `decode_lines`.
Shell: `read_audit` (streams a file) and `AuditWriter` (append-only, locked, fsync policy).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import random
import socket
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bulkdel.clock import Clock, SystemClock
from bulkdel.errors import AuditError
from bulkdel.models import Action, Outcome, StopReason

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


class FsyncPolicy(StrEnum):
    """When the writer forces records to stable storage (`--fsync`)."""

    ALWAYS = "always"
    BATCH = "batch"
    NEVER = "never"


# --- time and identity ----------------------------------------------------------------------


def format_ts(dt: datetime) -> str:
    """RFC 3339 UTC with exactly milliseconds and `Z`; sub-millisecond digits are truncated."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("format_ts needs a timezone-aware datetime; use datetime.now(UTC)")
    if dt.utcoffset():
        dt = dt.astimezone(UTC)
    # isoformat truncates (never rounds) to the requested precision.
    return dt.isoformat(timespec="milliseconds")[:-6] + "Z"


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
        "action": action.value if type(action) is Action else Action(action).value,
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
        "outcome": outcome.value if type(outcome) is Outcome else Outcome(outcome).value,
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


# --- encoding (pure) ------------------------------------------------------------------------

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode(record: Mapping[str, Any]) -> bytes:
    """One compact JSON line ending in `\\n`; StrEnums encode as their values, NaN is refused."""
    try:
        text = _ENCODER.encode(record)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"cannot encode audit record {record.get('event')!r}: {exc}") from exc
    # A lone surrogate (a server's "\ud800" escape) becomes the JSON escape it came from, so
    # the line stays valid UTF-8 and decodes back to the same string.
    return (text + "\n").encode("utf-8", "backslashreplace")


@dataclass(frozen=True, slots=True)
class AuditRead:
    """Records of one audit log; torn lines (from a crash) are skipped and reported."""

    records: tuple[dict[str, Any], ...]
    torn_tail: bool = False  # the last line was incomplete
    bad_lines: tuple[int, ...] = ()  # 1-based numbers of every skipped torn line


@dataclass(slots=True)
class ReadReport:
    """What `iter_records` skipped; filled in as it goes, complete once it is exhausted."""

    bad_lines: list[int] = field(default_factory=list)
    last_line: int = 0  # number of the last non-blank line

    @property
    def torn_tail(self) -> bool:
        """True when the last line was a torn record."""
        return bool(self.bad_lines) and self.bad_lines[-1] == self.last_line


_CHUNK = 4096
_NOT_OURS = "pass the JSON-lines file written by `bulkdel run --audit`"


def decode_lines(lines: Iterable[bytes], *, source: str = "audit log") -> AuditRead:
    """Decode JSON lines (pure); see `iter_records` for what is tolerated."""
    report = ReadReport()
    # Building a million dicts triggers the cyclic GC over and over, for nothing: records
    # hold no cycles. Pausing it more than halves the time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        records = tuple(iter_records(lines, source=source, report=report))
    finally:
        if enabled:
            gc.enable()
    return AuditRead(records, torn_tail=report.torn_tail, bad_lines=tuple(report.bad_lines))


def iter_records(
    lines: Iterable[bytes], *, source: str = "audit log", report: ReadReport | None = None
) -> Iterator[dict[str, Any]]:
    """Yield records one by one (to fold a log too big to hold in memory).

    A line that is not JSON but looks like a torn record (starts with `{"v":`, or holds only
    NUL bytes left by a power loss) is skipped and reported; such a line can sit mid-file
    because the writer starts a fresh line after a crash. Blank lines are ignored. Anything
    else (other text, JSON that is not a v1 record, a record lacking its event's fields)
    raises AuditError naming the line.
    """
    report = ReadReport() if report is None else report
    chunk: list[bytes] = []
    first = 1
    for line in lines:
        chunk.append(line)
        if len(chunk) == _CHUNK:
            yield from _decode_chunk(chunk, first, source, report)
            first += len(chunk)
            chunk = []
    if chunk:
        yield from _decode_chunk(chunk, first, source, report)


def _decode_chunk(
    chunk: list[bytes], first: int, source: str, report: ReadReport
) -> list[dict[str, Any]]:
    # One json.loads over the whole chunk is faster and shares key strings between records;
    # any odd line (blank, torn, not an object) sends the chunk down the per-line path.
    try:
        parsed = json.loads(b"[" + b",".join(chunk) + b"]")
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and len(parsed) == len(chunk):
        fields = EVENT_FIELDS
        for number, rec in enumerate(parsed, first):
            try:  # the common case in one expression; _check explains anything else
                ok = rec["v"] == SCHEMA_VERSION and rec.keys() >= fields[rec["event"]]
            except (TypeError, KeyError, AttributeError):
                ok = False
            if not ok:
                _check(rec, number, source)
        report.last_line = first + len(chunk) - 1
        return parsed
    out = []
    for number, line in enumerate(chunk, first):
        if not line.strip():
            continue
        report.last_line = number
        try:
            rec = json.loads(line)
        except ValueError:
            body = line.strip().strip(b"\x00")
            if body and not body.startswith(b'{"v":'):
                raise AuditError(
                    f"{source}:{number}: not a bulkdel audit record ({body[:40]!r}); {_NOT_OURS}"
                ) from None
            report.bad_lines.append(number)
            continue
        _check(rec, number, source)
        out.append(rec)
    return out


def _check(rec: Any, number: int, source: str) -> None:
    if not isinstance(rec, dict) or "v" not in rec:
        raise AuditError(f"{source}:{number}: not a bulkdel audit record; {_NOT_OURS}")
    if rec["v"] != SCHEMA_VERSION:
        raise AuditError(
            f"{source}:{number}: audit schema v={rec['v']!r}, this bulkdel reads v1; "
            "use the bulkdel version that wrote the log"
        )
    event = rec.get("event")
    need = EVENT_FIELDS.get(event) if isinstance(event, str) else None
    if need is None:
        need = _HEAD_SET  # an event from a newer v1 writer: passed through, ignored by fold
    if not rec.keys() >= need:
        missing = ", ".join(sorted(need - rec.keys()))
        raise AuditError(f"{source}:{number}: {event!r} record lacks {missing}; {_NOT_OURS}")


def read_audit(path: str | os.PathLike[str]) -> AuditRead:
    """Read a whole audit log (streams the file; torn lines tolerated as in `iter_records`)."""
    try:
        with open(path, "rb") as fh:
            return decode_lines(fh, source=str(path))
    except OSError as exc:
        raise AuditError(f"cannot read audit log {path}: {exc.strerror}; check the path") from exc


# --- writer (shell) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds (or held) an audit log, from its `.lock` sidecar."""

    pid: int | None
    host: str | None
    started: str | None

    def describe(self) -> str:
        """E.g. `pid 4242 on host db1, started 2026-12-03T01:02:03.456Z`."""
        parts = [f"pid {self.pid}" if self.pid is not None else "pid unknown"]
        if self.host:
            parts.append(f"on host {self.host}")
        text = " ".join(parts)
        return f"{text}, started {self.started}" if self.started else text


def _read_lock_info(sidecar: Path) -> LockInfo | None:
    try:
        raw = sidecar.read_bytes()
    except OSError:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    pid, host, started = doc.get("pid"), doc.get("host"), doc.get("started")
    return LockInfo(
        pid=pid if isinstance(pid, int) else None,
        host=host if isinstance(host, str) else None,
        started=started if isinstance(started, str) else None,
    )


class AuditWriter:
    """The one appender of an audit log: exclusive flock, O_APPEND, mode 0600, fsync policy.

    The kernel lock (flock on the audit file itself) is what excludes a second run; the
    `<audit>.lock` sidecar only tells the loser who holds it. A sidecar found while the
    lock is free was left by a run that crashed: see `stale_lock` / `stale_lock_info`.
    A file that ends mid-line (crash during a write) gets a `\\n` first, so the next record
    starts a fresh line; readers skip the torn line. Existing files with a broader mode
    are left as they are (the operator chose it) and reported in `mode_warning`.
    """

    def __init__(
        self,
        path: Path,
        fd: int,
        *,
        fsync: FsyncPolicy,
        clock: Clock,
        fsync_fn: Callable[[int], None],
        interval_s: float,
    ) -> None:
        self.path = path
        self.sidecar = path.with_name(path.name + ".lock")
        self.policy = FsyncPolicy(fsync)
        self.stale_lock: LockInfo | None = None
        self.mode_warning: str | None = None
        self.repaired_torn_tail = False
        self._fd: int | None = fd
        self._clock = clock
        self._fsync = fsync_fn
        self._interval = interval_s
        self._dirty = False
        self._last_sync = clock.monotonic()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        fsync: FsyncPolicy = FsyncPolicy.BATCH,
        clock: Clock | None = None,
        fsync_fn: Callable[[int], None] = os.fsync,
        interval_s: float = 1.0,
    ) -> AuditWriter:
        """Open (creating with 0600, never truncating) and lock; AuditError if locked."""
        path = Path(path)
        clock = clock or SystemClock()
        try:
            # O_RDWR rather than O_WRONLY: the torn-tail check reads the last byte.
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise AuditError(
                f"cannot open audit log {path}: {exc.strerror}; "
                "check that the directory exists and is writable"
            ) from exc
        try:
            writer = cls(
                path, fd, fsync=fsync, clock=clock, fsync_fn=fsync_fn, interval_s=interval_s
            )
            writer._lock()
            writer._prepare(clock)
        except BaseException:
            os.close(fd)
            raise
        return writer

    def _lock(self) -> None:
        assert self._fd is not None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_lock_info(self.sidecar) or LockInfo(None, None, None)
            raise AuditError(
                f"audit log {self.path} is in use by another bulkdel run "
                f"({holder.describe()}); wait for it to finish or use another --audit file"
            ) from None
        except OSError as exc:
            raise AuditError(
                f"cannot lock audit log {self.path}: {exc.strerror}; "
                "put the audit log on a local filesystem"
            ) from exc

    def _prepare(self, clock: Clock) -> None:
        assert self._fd is not None
        st = os.fstat(self._fd)
        if not stat.S_ISREG(st.st_mode):
            raise AuditError(f"audit log {self.path} is not a regular file; pass a file path")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            self.mode_warning = (
                f"audit log {self.path} has mode {mode:04o}; others can read its peer IDs "
                f"(it holds no secrets); run `chmod 600 {self.path}` to restrict it"
            )
        if self.sidecar.exists():
            self.stale_lock = _read_lock_info(self.sidecar)
        if st.st_size and os.pread(self._fd, 1, st.st_size - 1) != b"\n":
            self._write_all(b"\n")
            self.repaired_torn_tail = True
        info = {"pid": os.getpid(), "host": socket.gethostname(), "audit": str(self.path)}
        info["started"] = format_ts(clock.wall())
        # The sidecar is informational; the flock alone does the locking.
        with contextlib.suppress(OSError):
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
            sfd = os.open(self.sidecar, flags, 0o600)
            try:
                os.write(sfd, json.dumps(info).encode() + b"\n")
            finally:
                os.close(sfd)

    @property
    def stale_lock_info(self) -> str | None:
        """A message for the operator when a crashed run left its lock sidecar behind."""
        if self.stale_lock is None:
            return None
        return (
            f"a previous run ({self.stale_lock.describe()}) did not finish cleanly; its records "
            f"in {self.path} are kept; consider `bulkdel replay {self.path}`"
        )

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._fd is None

    def _write_all(self, data: bytes) -> None:
        fd = self._fd
        if fd is None:
            raise AuditError(f"audit log {self.path} is closed; this is a bug in bulkdel")
        try:
            n = os.write(fd, data)
            if n < len(data):
                view = memoryview(data)
                while n < len(view):
                    n += os.write(fd, view[n:])
        except OSError as exc:
            raise AuditError(
                f"cannot write audit log {self.path}: {exc.strerror}; free space or fix the "
                "filesystem, then `bulkdel replay` the log (a torn last line is tolerated)"
            ) from exc

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record in one write (flushed: there is no user-space buffer)."""
        self._write_all(encode(record))
        self._written()

    def write_many(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append records in order with a single write, then one fsync decision."""
        data = b"".join([encode(r) for r in records])
        if data:
            self._write_all(data)
            self._written()

    def _written(self) -> None:
        if self.policy is FsyncPolicy.ALWAYS:
            self._sync()
        elif self.policy is FsyncPolicy.BATCH:
            self._dirty = True
            if self._clock.monotonic() - self._last_sync >= self._interval:
                self._sync()

    def maybe_fsync(self) -> None:
        """Call from a ticker (about once a second): fsync what `batch` has left unsynced."""
        if self._dirty and self.policy is FsyncPolicy.BATCH and self._fd is not None:
            self._sync()

    def _sync(self) -> None:
        assert self._fd is not None
        try:
            self._fsync(self._fd)
        except OSError as exc:
            raise AuditError(
                f"cannot fsync audit log {self.path}: {exc.strerror}; check the disk"
            ) from exc
        self._dirty = False
        self._last_sync = self._clock.monotonic()

    def close(self) -> None:
        """fsync (unless policy `never`), remove the sidecar, release the lock; idempotent."""
        fd = self._fd
        if fd is None:
            return
        try:
            if self._dirty and self.policy is not FsyncPolicy.NEVER:
                self._sync()
        finally:
            # Remove the sidecar while still holding the lock, so it is never a new holder's.
            with contextlib.suppress(OSError):
                self.sidecar.unlink()
            self._fd = None
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
