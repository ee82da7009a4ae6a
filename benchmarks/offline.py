"""Scenarios 4 (scale) and 5 (start-up): bulkdel's own commands, no server traffic.

- plan: `bulkdel plan INV --state STATE` over a large inventory (offline planning), timed, with
  the peak RSS of that process (wait4) and memory per peer over a one-peer plan's RSS;
- report: `bulkdel report A --format json` of a synthetic audit log of the same run;
- replay: `bulkdel replay A --dry-run --state STATE` (reads and folds the log, re-plans the
  unfinished peers and runs them through the executor without sending anything).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from benchmarks import fixtures, procs
from benchmarks.clients import UNLIMITED_RATE, Context
from benchmarks.results import Check, ScenarioResult, Table, first_line

PLAN_S, PLAN_MB, REPORT_S, REPLAY_S, HELP_S = 10.0, 400.0, 10.0, 10.0, 0.3

# Offline commands still resolve an endpoint and a credential; nothing is sent to this one.
_NOWHERE = "http://127.0.0.1:9"


def _env() -> dict[str, str]:
    return dict(os.environ, BULKDEL_TOKEN="bench-offline-token-not-sent")


def _bulkdel(args: list[str], timeout: float = 900) -> procs.Proc:
    return procs.run([*procs.bulkdel_argv(), *args], env=_env(), timeout=timeout)


def _time_check(target: str, proc: procs.Proc, limit: float) -> Check:
    if proc.returncode != 0:
        return Check(target, f"exit {proc.returncode}: {first_line(proc.tail())}", False)
    return Check(target, f"{proc.wall_s:.2f} s", proc.wall_s <= limit)


def _plan_args(inventory: Path, state: Path, project_id: str) -> list[str]:
    args = ["plan", str(inventory), "--state", str(state), "--project-id", project_id]
    return [*args, "--endpoint", _NOWHERE, "--log-format", "json", "--log-level", "warning"]


def scale(ctx: Context) -> ScenarioResult:
    """4. Scale: plan, report and replay of a million peers over 600,000 interfaces."""
    peers, interfaces = (10_000, 6_000) if ctx.quick else (1_000_000, 600_000)
    folder = ctx.tmp / "scale"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random("scale")
    t0 = time.perf_counter()
    files, salt = fixtures.write_scale(folder, peers=peers, interfaces=interfaces, rng=rng)
    audit_shape = fixtures.write_scale_audit(folder / "scale-audit.jsonl", files, salt)
    made_s = time.perf_counter() - t0

    tiny_dir = ctx.tmp / "scale-tiny"
    tiny_dir.mkdir(parents=True, exist_ok=True)
    tiny, _ = fixtures.write_scale(tiny_dir, peers=1, interfaces=1, rng=random.Random("tiny"))
    base = _bulkdel(_plan_args(tiny.inventory, tiny.state, tiny.project_id))
    plan = _bulkdel(_plan_args(files.inventory, files.state, files.project_id))
    per_peer = (plan.maxrss_mb - base.maxrss_mb) * 1024 * 1024 / peers

    report = _bulkdel(["report", str(audit_shape.path), "--format", "json", "--log-format", "json"])
    report_note = _report_note(report, audit_shape.counts)

    replay_audit = folder / "scale-replay.jsonl"
    replay_audit.unlink(missing_ok=True)
    replay = _bulkdel(
        [
            "replay",
            str(audit_shape.path),
            "--dry-run",
            "--state",
            str(files.state),
            "--audit",
            str(replay_audit),
            "--endpoint",
            _NOWHERE,
            "--project-id",
            files.project_id,
            "--rate",
            f"{UNLIMITED_RATE:g}",
            "--concurrency",
            "64",
            "--log-format",
            "json",
            "--log-level",
            "warning",
        ]
    )
    wanted = audit_shape.counts["failed"] + audit_shape.counts["deferred"]
    replay_note = _replay_note(replay_audit, wanted)

    def row(what: str, proc: procs.Proc, note: str) -> tuple[str, ...]:
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        if proc.returncode != 0:
            note = f"ERROR: {first_line(proc.tail())}"
        return (what, f"{proc.wall_s:.2f}", f"{proc.maxrss_mb:,.0f}", status, note)

    table = Table(
        ("command", "seconds", "peak RSS MB", "status", "note"),
        (
            row("plan, 1 peer (baseline RSS)", base, "interpreter + imports"),
            row(
                f"plan, {peers:,} peers / {interfaces:,} interfaces",
                plan,
                f"{per_peer:,.0f} bytes/peer over the baseline",
            ),
            row(f"report --format json ({audit_shape.records:,} records)", report, report_note),
            row(f"replay --dry-run ({wanted:,} unfinished peers)", replay, replay_note),
        ),
    )
    checks = [
        _time_check(f"4. plan {peers:,} peers ≤ {PLAN_S:g} s", plan, PLAN_S),
        Check(
            f"4. plan peak RSS ≤ {PLAN_MB:g} MB",
            f"{plan.maxrss_mb:,.0f} MB ({per_peer:,.0f} B/peer)",
            plan.returncode == 0 and plan.maxrss_mb <= PLAN_MB,
        ),
        _time_check(f"4. report of a {peers:,}-peer audit log ≤ {REPORT_S:g} s", report, REPORT_S),
        _time_check(f"4. replay of a {peers:,}-peer audit log ≤ {REPLAY_S:g} s", replay, REPLAY_S),
    ]
    mb = 1024 * 1024
    return ScenarioResult(
        key="4 scale",
        title=f"4. Scale ({peers:,} peers over {interfaces:,} interfaces)",
        setup=(
            f"Inventory CSV {files.bytes_inventory / mb:,.0f} MB, `--state` listing "
            f"{files.bytes_state / mb:,.0f} MB ({interfaces:,} interfaces, 2 peers each; "
            f"{peers - interfaces:,} with both requested, so one is protected); synthetic audit "
            f"log {audit_shape.size_bytes / mb:,.0f} MB of a run cut by its window "
            f"({_counts(audit_shape.counts)}); fixtures written in {made_s:.1f} s. "
            "Times are whole processes (start-up included); RSS is each process's peak."
        ),
        table=table,
        checks=tuple(checks),
        data={
            "plan_s": plan.wall_s,
            "plan_rss_mb": plan.maxrss_mb,
            "base_rss_mb": base.maxrss_mb,
            "bytes_per_peer": per_peer,
            "report_s": report.wall_s,
            "replay_s": replay.wall_s,
            "audit_counts": dict(audit_shape.counts),
        },
    )


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items())


def _report_note(proc: procs.Proc, expected: Mapping[str, int]) -> str:
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        return "output is not JSON"
    counts = doc.get("counts") if isinstance(doc, dict) else None
    if not isinstance(counts, dict):
        return "no `counts` in the report"
    wrong = {k: (counts.get(k), v) for k, v in expected.items() if counts.get(k) != v}
    return "counts match the log" if not wrong else f"counts differ (got, want): {wrong}"


def _replay_note(audit: Path, wanted: int) -> str:
    finished = fixtures.read_json_line(audit, last=True)
    if not finished or finished.get("event") != "run_finished":
        return "no run_finished in the replay's audit log"
    counts = finished.get("counts") or {}
    assert isinstance(counts, dict)
    got = int(counts.get("would_delete", 0))
    return f"would_delete {got:,} of {wanted:,}" + ("" if got == wanted else " (MISMATCH)")


def startup(ctx: Context) -> ScenarioResult:
    """5. Start-up: `bulkdel --help`, best of 5, against a bare interpreter."""
    tries = 2 if ctx.quick else 5
    helps = [procs.run([*procs.bulkdel_argv(), "--help"], timeout=60) for _ in range(tries)]
    bare = [procs.run([sys.executable, "-c", "pass"], timeout=60) for _ in range(tries)]
    imports = [
        procs.run([sys.executable, "-c", "import aiohttp"], timeout=60) for _ in range(tries)
    ]
    best = min(helps, key=lambda p: p.wall_s)
    table = Table(
        ("command", f"best of {tries} s", "median s"),
        tuple(
            (what, f"{min(p.wall_s for p in runs):.3f}", f"{_median(runs):.3f}")
            for what, runs in (
                ("bulkdel --help", helps),
                ("python -c pass (interpreter alone)", bare),
                ("python -c 'import aiohttp' (what lazy imports avoid)", imports),
            )
        ),
    )
    check = _time_check(f"5. bulkdel --help ≤ {HELP_S:g} s (best of {tries})", best, HELP_S)
    return ScenarioResult(
        key="5 startup",
        title="5. Start-up",
        setup=f"`{' '.join(procs.bulkdel_argv())} --help`, wall time of the whole process.",
        table=table,
        checks=(check,),
        data={"help_best_s": best.wall_s},
    )


def _median(runs: list[procs.Proc]) -> float:
    times = sorted(p.wall_s for p in runs)
    return times[len(times) // 2]
