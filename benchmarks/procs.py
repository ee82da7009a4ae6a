"""Running one client process and measuring it: wall time, exit code, peak RSS, output tails."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Put first on PYTHONPATH to make `import uvloop` fail, so bulkdel runs on the stdlib loop.
_NO_UVLOOP = "raise ImportError('uvloop disabled by the benchmark to measure the stdlib loop')\n"


@dataclass(frozen=True, slots=True)
class Proc:
    """A finished process."""

    argv: tuple[str, ...]
    returncode: int
    wall_s: float
    maxrss_mb: float
    stdout: str
    stderr: str
    timed_out: bool = False

    def tail(self, limit: int = 1500) -> str:
        """The end of stderr (else stdout), for error reports."""
        text = self.stderr.strip() or self.stdout.strip()
        return text[-limit:]


def repo_root() -> Path:
    """The checkout the benchmarks belong to."""
    return Path(__file__).resolve().parent.parent


def bulkdel_argv() -> list[str]:
    """How a user starts bulkdel here: the console script beside this Python, else `-m`."""
    script = Path(sys.executable).parent / "bulkdel"
    if script.exists():
        return [str(script)]
    found = shutil.which("bulkdel")
    return [found] if found else [sys.executable, "-m", "bulkdel"]


def profiled_bulkdel_argv(out: Path) -> list[str]:
    """bulkdel under cProfile, writing stats to `out`."""
    return [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "bulkdel"]


def loop_env(loop: str, base: Mapping[str, str], scratch: Path) -> dict[str, str]:
    """The environment that makes a child Python use `loop` (uvloop or the stdlib asyncio)."""
    env = dict(base)
    if loop == "asyncio":
        stub = scratch / "no-uvloop"
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "uvloop.py").write_text(_NO_UVLOOP, encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(stub), env.get("PYTHONPATH")]))
    return env


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    cwd: Path | None = None,
) -> Proc:
    """Run to completion; peak RSS comes from wait4 (this child only, not earlier ones)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(env) if env is not None else None,
            cwd=str(cwd or repo_root()),
            start_new_session=True,
        )
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Proc(
            argv=tuple(argv),
            returncode=proc.returncode,
            wall_s=wall,
            maxrss_mb=usage.ru_maxrss / 1024.0,  # Linux reports KiB
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            timed_out=expired.is_set(),
        )
