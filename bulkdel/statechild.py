"""A `--state` file read by a child process while this one does other work (I/O shell).

`bulkdel replay` folds a big audit log and reads a big listing; the two do not depend on
each other, and a thread cannot run Python beside the fold. So the listing is parsed in a
child interpreter from the start, and only once the fold has chosen the peers is the child
asked for their interfaces: a few MB cross the pipe. Whatever goes wrong there (no child,
a listing that does not stream, a crash) is answered by reading the file here, as
`read_state_file` always does, so results and error messages are the same either way.
"""

from __future__ import annotations

import marshal
import os
import select
import subprocess
import sys
from collections.abc import Set as AbstractSet
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import IO

from bulkdel.gcpause import gc_paused
from bulkdel.models import LiveState
from bulkdel.state import Described, describe_state_file, read_state_file, state_of

__all__ = ["StateChild"]

_CHILD = "import sys; from bulkdel.statechild import serve; serve(sys.argv[1])"
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class StateChild:
    """`read_state_file(path, peers=..., digest=False)`, begun at once in a child process.

    Use as a context manager (the child is killed on exit if still running), or call
    `close`. Ask once: `read(peers)`, or `ask(peers)` then, after other work, `answer()`.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._proc: subprocess.Popen[bytes] | None = _start(path)
        self._peers: AbstractSet[str] | None = None

    def ask(self, peers: AbstractSet[str]) -> None:
        """Send the request: the child answers it while this process goes on."""
        self._peers = peers
        if self._proc is not None and not _send(self._proc, peers):
            self.close()

    def answer(self) -> LiveState:
        """The interfaces that list one of the peers asked for, in file order (no digest)."""
        if self._peers is None:
            self.ask(frozenset())
        proc, self._proc = self._proc, None
        described = None if proc is None else _receive(proc)
        if described is None:
            return read_state_file(self.path, peers=self._peers or frozenset(), digest=False)
        return state_of(described)

    def read(self, peers: AbstractSet[str]) -> LiveState:
        """`ask(peers)`, then `answer()`."""
        self.ask(peers)
        return self.answer()

    def close(self) -> None:
        """Stop the child if it still runs."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop(proc)

    def __enter__(self) -> StateChild:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _start(path: str) -> subprocess.Popen[bytes] | None:
    if not sys.executable or _cpus() < 2:  # embedded; or one CPU, where it would only compete
        return None
    env = dict(os.environ)
    # The child imports this very bulkdel, however this process found it.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    try:
        return subprocess.Popen(  # noqa: S603 -- this interpreter, fixed code; path is data
            [sys.executable, "-c", _CHILD, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # it can only fail over to a read here, which explains
            env=env,
        )
    except (OSError, ValueError):
        return None


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Whole messages in marshal's format (this very interpreter on both ends): plain tuples and
# strings, several times faster than pickle, which memoizes each one.


def _send(proc: subprocess.Popen[bytes], peers: AbstractSet[str]) -> bool:
    """Write the request and close the child's stdin; False if the child is gone."""
    try:
        if proc.stdin is None:
            return False
        with proc.stdin:
            proc.stdin.write(marshal.dumps(frozenset(peers)))
    except OSError:
        return False
    return True


def _receive(proc: subprocess.Popen[bytes]) -> list[Described] | None:
    """The child's described interfaces; None if it cannot tell (then read here)."""
    answer = None
    try:
        if proc.stdout is not None:
            with proc.stdout:
                data = proc.stdout.read()  # until the child exits
            proc.wait()
            with gc_paused():
                answer = marshal.loads(data)  # noqa: S302 -- our own child, over a pipe
    except Exception:  # whatever it is, reading the file here explains it (or works)
        answer = None
    finally:
        _stop(proc)
    if proc.returncode != 0 or not isinstance(answer, list):
        return None
    return answer


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None and not pipe.closed:
            pipe.close()


def serve(path: str) -> None:
    """The child: describe the listing at `path`, then answer one request on stdin/stdout.

    The request is a marshalled set of peer IDs; the answer the described interfaces listing
    one of them, in file order, or None when the listing does not stream.
    """
    import gc

    gc.disable()  # a short-lived process building 600k acyclic records
    described = describe_state_file(path)
    stdin: IO[bytes] = sys.stdin.buffer
    answer = None
    if described is not None:
        where = None if _asked(stdin) else _index(described)
        peers: frozenset[str] = marshal.loads(stdin.read())  # noqa: S302 -- from our parent
        if where is not None:
            answer = [described[n] for n in sorted({where[p] for p in peers if p in where})]
        else:
            answer = [d for d in described if not peers.isdisjoint(d[1])]
    stdout: IO[bytes] = sys.stdout.buffer
    stdout.write(marshal.dumps(answer))
    stdout.flush()
    os._exit(0)  # freeing 600k interfaces one by one takes a second the parent would wait out


def _asked(stdin: IO[bytes]) -> bool:
    """Whether the request is waiting already (then an index would only delay the answer)."""
    try:
        return bool(select.select([stdin], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def _index(described: list[Described]) -> dict[str, int] | None:
    """Where each peer is listed: a request is then a few lookups (None: a peer listed twice).

    Built while the parent is still busy; a second's work that saves it a third of one.
    """
    where = {pid: n for n, d in enumerate(described) for pid in d[1]}
    return where if len(where) == sum(map(len, map(itemgetter(1), described))) else None
