"""`bulkdel replay`: re-run the peers an audit log left failed, deferred or unknown.

It folds the log (the fast reader, `bulkdel.auditrows`), adds peers a crashed run planned but
never recorded (re-read from its unchanged inventory or plan), checks every ID, and runs them
as a new run whose audit log says what it replays.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from bulkdel.commands import finish, run_confirmed
from bulkdel.connect import ConnOptions
from bulkdel.errors import InputError, UsageError
from bulkdel.ids import is_canonical_uuid
from bulkdel.inventory import read_inventory
from bulkdel.models import Inventory, Outcome, Planned, Requested
from bulkdel.runner import RunRequest, RunSettings
from bulkdel.window import WindowSpec

if TYPE_CHECKING:
    from bulkdel.fold import AuditState

__all__ = ["replay_command"]

log = structlog.get_logger("bulkdel")


async def replay_command(
    conn: ConnOptions,
    settings: RunSettings,
    window: WindowSpec | None,
    *,
    audit_file: str,
    only: str,
    audit_path: str | None,
    yes: bool,
    state_file: str | None,
) -> int:
    """`bulkdel replay`: re-run peers whose latest outcome is in --only, or unfinished."""
    from concurrent.futures import ThreadPoolExecutor

    from bulkdel.audit import ReadReport
    from bulkdel.auditrows import fold_audit
    from bulkdel.gcpause import gc_paused
    from bulkdel.statechild import StateChild

    try:
        wanted = frozenset(Outcome(x.strip()) for x in only.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--only {only!r}: use outcomes such as failed,deferred,unknown") from None
    with contextlib.ExitStack() as stack:
        # The --state listing is parsed by a child process from now on: the fold needs none
        # of it, and only the selected peers' interfaces come back (a second core's work).
        child = stack.enter_context(StateChild(state_file)) if state_file else None
        # Streamed: the log's records are folded as they are read, never held all at once.
        # Its sha256 is taken meanwhile by a thread (hashlib lets go of the GIL).
        read = ReadReport()
        with ThreadPoolExecutor(1) as pool, gc_paused():
            hashing = pool.submit(_file_sha256, audit_file)
            state = fold_audit(audit_file, report=read)
            digest = hashing.result()
            # A million acyclic records: frozen before the collector is back, which would
            # otherwise scan them all once (0.4 s) and then again in each full collection.
            gc.freeze()
        if read.torn_tail:
            log.warning(
                "audit.torn_tail",
                path=audit_file,
                hint="the last line was cut by a crash; it is ignored",
            )
        peers, inv, resumed_from = _replay_selection(state, wanted, audit_file, digest)
        # Only the interfaces of the selected peers: all their plan needs. A run records no
        # state digest, so none is computed.
        if child is not None:
            child.ask(frozenset(pid for pid, _ in peers))
        del state  # a million peers' latest outcomes (freed while the child answers)
        live = None if child is None else child.answer()
    target = audit_path or audit_file
    req = RunRequest(
        audit_path=target,
        project_id=conn.resolved_project_id(),
        endpoint=conn.resolved_endpoint(),
        inventory=inv,
        settings=settings,
        state=live,
        window=window,
        command="replay",
        extra_started={"replay_of": audit_file, "resumed_from_runs": resumed_from},
    )
    if not peers:
        print(
            f"nothing to replay in {audit_file} (only {','.join(sorted(wanted))})", file=sys.stderr
        )
        return 0
    summary = await run_confirmed(conn, req, yes)
    return finish(summary, f"bulkdel replay {audit_file} --audit {target}")


def _replay_selection(
    state: AuditState, wanted: frozenset[Outcome], audit_file: str, digest: str
) -> tuple[list[tuple[str, str | None]], Inventory, list[str]]:
    """The peers replay re-runs (checked), as an inventory, and the runs they come from."""
    from bulkdel.fold import peers_to_replay

    peers = peers_to_replay(state, wanted)
    if any(run.finished is None for run in state.runs):  # only a crashed run leaves any
        peers += _unrecorded_peers(state, {p for p, _ in peers})
    forged = [pid for pid, _vif in peers if not is_canonical_uuid(pid)]
    if forged:
        raise InputError(
            f"{len(forged)} peer ID(s) in the audit log are not UUIDs, e.g. {forged[0][:80]!r}",
            file=audit_file,
            line=_line_naming(audit_file, forged[0]),
            column="peer_id",
            fix="the log was edited or is not a bulkdel audit log; replay from an intact copy",
        )
    inv = Inventory(
        source=f"replay:{audit_file}",
        sha256=digest,
        requested=tuple(Requested(pid, 0, vif) for pid, vif in peers),
    )
    log.info("replay.selected", peers=len(peers), only=sorted(wanted))
    return peers, inv, [r.run for r in state.runs]


# -- report / export -----------------------------------------------------------------------------


def _unrecorded_peers(state: AuditState, already: set[str]) -> list[tuple[str, str | None]]:
    """Peers of crashed runs that the log never mentions, recovered from their inputs.

    A run killed early has planned deletions with neither `dispatch` nor `final`. Its
    `run_started` names the inventory (or plan file) and its sha256: when the file is still
    there and unchanged, its peers without any `final` are replayed too; otherwise say so.
    """
    out: list[tuple[str, str | None]] = []
    seen = set(already) | set(state.latest_final) | set(state.dispatched_unfinished)
    for run in state.runs:
        started = run.started_record
        if run.finished is not None or not started:
            continue
        requested = _requested_by(started)
        if requested is None:
            log.warning(
                "replay.inputs_changed",
                run=run.run,
                inventory=started.get("inventory"),
                hint="this run crashed before recording every peer and its inventory is gone or "
                "changed; run `bulkdel run INVENTORY --audit AUDIT --resume` to cover the rest",
            )
            continue
        for peer_id, vif_id in requested:
            if peer_id not in seen:
                seen.add(peer_id)
                out.append((peer_id, vif_id))
    return out


def _requested_by(started: Mapping[str, Any]) -> list[tuple[str, str | None]] | None:
    """The peers a run was asked for, re-read from its plan or inventory if unchanged."""
    from bulkdel.errors import BulkdelError
    from bulkdel.planfile import read_plan

    try:
        if isinstance(started.get("plan"), str):
            loaded = read_plan(started["plan"])
            if loaded.sha256 != started.get("plan_sha256"):
                return None
            return [
                (d.peer_id, d.vif_id)
                for d in loaded.plan.decisions
                if d.planned is not Planned.INVALID
            ]
        path = started.get("inventory")
        if not isinstance(path, str) or path in ("-",) or path.startswith("replay:"):
            return None
        inv = read_inventory(path, project_id=started.get("project_id"))
    except (BulkdelError, OSError):
        return None
    if inv.sha256 != started.get("inventory_sha256"):
        return None
    return [(r.peer_id, r.vif_id) for r in inv.requested]


def _line_naming(path: str, peer_id: str) -> int | None:
    """The first line of an audit log whose record names `peer_id` (for error messages)."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                if json.loads(raw).get("peer_id") == peer_id:
                    return number
            except (ValueError, AttributeError):
                continue
    return None


def _file_sha256(path: str) -> str:
    # Big reads: beside CPU-bound work, each hand-over of the GIL to this thread can wait out a
    # 5 ms switch interval (hashing itself runs without the GIL).
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(16 << 20):
            sha.update(chunk)
    return sha.hexdigest()
