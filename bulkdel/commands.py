"""What each CLI command does, as library functions returning text or an exit code.

`bulkdel replay` lives in `bulkdel.replay` and shares `run_confirmed` and `finish` from here.
"""

from __future__ import annotations

import gc
import json
import sys
from typing import Any

import anyio
import structlog

from bulkdel.connect import ConnOptions, open_client
from bulkdel.errors import UsageError
from bulkdel.inventory import read_inventory
from bulkdel.models import Inventory, Keep, Outcome, Plan, Planned, Requested, StopReason
from bulkdel.planfile import write_private
from bulkdel.planner import PlanSummary, summarize
from bulkdel.runner import RunRequest, RunSettings, RunSummary, abs_source, execute_run
from bulkdel.window import WindowSpec

log = structlog.get_logger("bulkdel")


# -- plan ----------------------------------------------------------------------------------------


def render_plan(plan: Plan | PlanSummary, fmt: str, *, limit: int = 50) -> str:
    """Counts by planned outcome, protected peers with reasons, notes (pure)."""
    summary = plan if isinstance(plan, PlanSummary) else summarize(plan)
    protected = summary.protected
    if fmt == "json":
        return json.dumps(
            {
                "counts": dict(summary.counts),
                "protected": [
                    {"peer_id": d.peer_id, "vif_id": d.vif_id, "reason": d.reason}
                    for d in protected
                ],
                "notes": list(summary.notes),
                "state_digest": summary.state_digest,
            },
            indent=2,
        )
    lines = ["planned:"]
    for name, count in sorted(summary.counts.items()):
        lines.append(f"  {name:<10} {count}")
    if protected:
        lines.append("protected (kept, never deleted):")
        for d in protected[:limit]:
            lines.append(f"  {d.peer_id}  {d.reason}")
        total = summary.counts.get("protected", 0)
        if total > limit:
            lines.append(f"  ... and {total - limit} more (use --format json)")
    if summary.notes:
        lines.append("notes:")
        lines.extend(f"  {n}" for n in summary.notes[:limit])
    return "\n".join(lines)


async def _state_and_plan(
    conn: ConnOptions,
    inventory: Inventory,
    keep: Keep,
    state_file: str | None,
    *,
    protected_limit: int | None = None,
    whole: bool = True,
) -> Plan | PlanSummary:
    """The plan (`whole`), or only its summary: a --state file is planned as it streams by."""
    from bulkdel.clock import SystemClock
    from bulkdel.planner import plan as make_plan
    from bulkdel.state import fetch_state, plan_state_file, summarize_state_file

    p: Plan | PlanSummary
    if state_file and whole:
        p = plan_state_file(inventory, state_file, keep=keep)
    elif state_file:
        p = summarize_state_file(inventory, state_file, keep=keep, protected_limit=protected_limit)
    else:
        async with open_client(conn) as client:
            state = await fetch_state(client, SystemClock())
        p = make_plan(inventory, state, keep=keep)
        del state
        if not whole:
            p = summarize(p, protected_limit=protected_limit)
    for note in p.notes:
        log.warning("plan.note", note=note)
    return p


async def plan_command(
    conn: ConnOptions,
    *,
    inventory: str,
    out: str | None,
    fmt: str,
    keep: str,
    state_file: str | None,
    skip_invalid: bool,
) -> str:
    """`bulkdel plan`: read, validate, plan; optionally write a plan file."""
    from bulkdel.planfile import write_plan

    project_id = conn.resolved_project_id()
    inv = read_inventory(inventory, project_id=project_id, skip_invalid=skip_invalid)
    gc.freeze()  # a million acyclic records: keep the cyclic GC from rescanning them
    _log_inventory(inv)
    # Without --out only the summary is shown: no Decision per peer is kept (a million peers
    # plan in a few hundred MB). The table shows the first 50 protected peers, JSON all.
    limit = None if fmt == "json" else 50
    p = await _state_and_plan(
        conn, inv, Keep(keep), state_file, protected_limit=limit, whole=out is not None
    )
    text = render_plan(p, fmt)
    if out:
        assert isinstance(p, Plan)
        digest = write_plan(
            out,
            p,
            {
                "project_id": project_id,
                "endpoint": conn.resolved_endpoint(),
                "inventory": inventory,
                "inventory_sha256": inv.sha256,
                "keep": keep,
            },
        )
        log.info("plan.written", path=out, sha256=digest)
    return text


def _log_inventory(inv: Inventory) -> None:
    for dup in inv.duplicates[:20]:
        log.warning(
            "inventory.duplicate",
            peer_id=dup.peer_id,
            lines=list(dup.lines),
            hint="collapsed into the first occurrence",
        )
    if len(inv.duplicates) > 20:
        log.warning("inventory.duplicates", count=len(inv.duplicates))
    for row in inv.invalid[:20]:
        log.warning("inventory.invalid", line=row.line, value=row.raw, reason=row.reason)
    log.info(
        "inventory.read",
        source=inv.source,
        peers=len(inv.requested),
        invalid=len(inv.invalid),
        duplicates=len(inv.duplicates),
    )


# -- run -------------------------------------------------------------------------------------


async def _confirm(conn: ConnOptions, plan: Plan) -> bool:
    import click

    counts = plan.counts()
    text = (
        f"Delete {counts.get('delete', 0)} vif peer(s) in project "
        f"{conn.resolved_project_id()} at {conn.resolved_endpoint()} "
        f"(protected {counts.get('protected', 0)}, gone {counts.get('gone', 0)})?"
    )
    return bool(
        await anyio.to_thread.run_sync(lambda: click.confirm(text, default=False, err=True))
    )


async def run_confirmed(conn: ConnOptions, req: RunRequest, yes: bool) -> RunSummary:
    from bulkdel.progress import progress_bar

    total = len(req.inventory.requested) + len(req.inventory.invalid)
    with progress_bar(total) as advance:
        async with open_client(conn, concurrency=req.settings.concurrency) as client:

            async def confirm(plan: Plan) -> bool:
                return await _confirm(conn, plan)

            return await execute_run(
                req, client, confirm=None if yes else confirm, progress=advance, handle_signals=True
            )


def finish(summary: RunSummary, again: str) -> int:
    counts = " ".join(f"{k}={v}" for k, v in sorted(summary.counts.items()))
    log.info(
        "run.finished",
        run_id=summary.run_id,
        stop_reason=summary.stop_reason.value,
        exit_code=summary.exit_code,
        duration_s=summary.duration_s,
        counts=counts,
    )
    print(
        f"run {summary.run_id}: {counts or 'nothing to do'} "
        f"({summary.stop_reason.value}, {summary.duration_s:.1f} s, exit {summary.exit_code})",
        file=sys.stderr,
    )
    if summary.exit_code == 3 or summary.stop_reason is not StopReason.COMPLETED:
        print(
            f"to continue: {again} --resume\n"
            f"         or: bulkdel replay {summary.audit_path} --yes\n"
            f"    report: bulkdel report {summary.audit_path}",
            file=sys.stderr,
        )
    elif summary.counts.get(Outcome.FAILED.value):
        print(
            f"failed peers: bulkdel report {summary.audit_path}; after fixing the cause, "
            f"bulkdel replay {summary.audit_path} --only failed --yes",
            file=sys.stderr,
        )
    return summary.exit_code


async def run_command(
    conn: ConnOptions,
    settings: RunSettings,
    window: WindowSpec | None,
    *,
    inventory: str | None,
    plan_file: str | None,
    audit_path: str,
    resume: bool,
    skip_invalid: bool,
    yes: bool,
    state_file: str | None,
) -> int:
    """`bulkdel run`: from an inventory, or exactly a plan file."""
    project_id = conn.resolved_project_id()
    extra: dict[str, Any] = {}
    allowed: frozenset[str] | None = None
    if plan_file and inventory:
        raise UsageError("give either INVENTORY or --plan PLAN, not both")
    if plan_file:
        from bulkdel.planfile import read_plan

        loaded = read_plan(plan_file)
        if str(loaded.meta.get("project_id", "")).lower() != project_id.lower():
            raise UsageError(
                f"plan {plan_file} is for project {loaded.meta.get('project_id')}, "
                f"not {project_id}; pass the plan's --project-id or re-plan"
            )
        inv = Inventory(
            source=plan_file,
            sha256=str(loaded.meta.get("inventory_sha256", "")),
            requested=tuple(
                Requested(d.peer_id, 0, d.vif_id)
                for d in loaded.plan.decisions
                if d.planned is not Planned.INVALID
            ),
        )
        allowed = frozenset(d.peer_id for d in loaded.plan.decisions if d.planned is Planned.DELETE)
        extra = {"plan": abs_source(plan_file), "plan_sha256": loaded.sha256}
    elif inventory:
        inv = read_inventory(inventory, project_id=project_id, skip_invalid=skip_invalid)
        _log_inventory(inv)
    else:
        raise UsageError("missing INVENTORY (a file or - for stdin) or --plan PLAN")
    state = None
    if state_file:
        from bulkdel.state import read_state_file

        state = read_state_file(state_file)
    req = RunRequest(
        audit_path=audit_path,
        project_id=project_id,
        endpoint=conn.resolved_endpoint(),
        inventory=inv,
        settings=settings,
        state=state,
        resume=resume,
        window=window,
        allowed_deletes=allowed,
        extra_started=extra,
    )
    summary = await run_confirmed(conn, req, yes)
    again = f"bulkdel run --plan {plan_file}" if plan_file else f"bulkdel run {inventory}"
    return finish(summary, f"{again} --audit {audit_path}")


def report_command(audit_file: str, run_id: str | None, fmt: str, *, peers: bool = False) -> str:
    """`bulkdel report`; with `peers`, every peer's latest outcome across the runs."""
    from bulkdel.audit import ReadReport, iter_audit
    from bulkdel.report import build_report, render

    read = ReadReport()
    rep = build_report(iter_audit(audit_file, report=read), run=run_id, include_peers=peers)
    if read.torn_tail:
        log.warning("audit.torn_tail", path=audit_file, hint="last line cut by a crash; ignored")
    text = render(rep, "json" if fmt == "json" else "markdown" if fmt == "markdown" else "table")
    if peers and fmt != "json" and rep.by_peer is not None:
        rows = [
            f"{peer}  {outcome or 'unfinished (dispatched, no final)'}"
            for peer, outcome in sorted(rep.by_peer.items())
        ]
        text += "\n\npeer                                  latest outcome\n" + "\n".join(rows)
    return text


async def export_command(conn: ConnOptions, out: str | None) -> str | None:
    """`bulkdel export`: the merged listing as JSON (file or returned text)."""
    from bulkdel.clock import SystemClock
    from bulkdel.state import fetch_listing

    async with open_client(conn) as client:
        doc = await fetch_listing(client, SystemClock())
    text = json.dumps(doc, indent=1)
    if out is None:
        return text
    write_private(out, text + "\n")
    log.info("export.written", path=out, interfaces=len(doc["virtual_interfaces"]))
    return None
