"""The audit log on disk: the one writer (append-only, locked, fsync).

`AuditWriter` is the only code that appends to it; `bulkdel.encoding` fixes how a record looks
in the file. Records themselves are built and read in `bulkdel.audit`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bulkdel.clock import Clock, SystemClock
from bulkdel.encoding import encode, format_ts
from bulkdel.errors import AuditError


class FsyncPolicy(StrEnum):
    """When the writer forces records to stable storage (`--fsync`)."""

    ALWAYS = "always"
    BATCH = "batch"
    NEVER = "never"


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
        #: Set by whoever calls maybe_fsync() at least once a second from another thread.
        self.background_sync = False
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
            # With a background syncer (the run's audit pump) the event loop never waits on
            # the disk; otherwise sync inline once the interval has passed.
            if not self.background_sync and (
                self._clock.monotonic() - self._last_sync >= self._interval
            ):
                self._sync()

    def maybe_fsync(self) -> None:
        """Call from a ticker (about once a second): fsync what `batch` has left unsynced."""
        if self._dirty and self.policy is FsyncPolicy.BATCH and self._fd is not None:
            self._sync()

    def _sync(self) -> None:
        fd = self._fd
        assert fd is not None
        # Cleared before the fsync: a write racing it (from another thread) marks it dirty again.
        self._dirty = False
        try:
            self._fsync(fd)
        except OSError as exc:
            self._dirty = True
            raise AuditError(
                f"cannot fsync audit log {self.path}: {exc.strerror}; check the disk"
            ) from exc
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
