"""Crash safety: kill -9 at seeded moments, then `replay` and `run --resume` finish the job.

The run is a real CLI process against the simulator (with latency, so the kill lands while
DELETEs are in flight). After each kill: the audit log stays readable, the kernel lock of
the dead holder does not block the next run (its leftover `.lock` sidecar is reported), a
DELETE that was on the wire at the kill ends `gone` after replay (never a second 204), no
interface loses its last peer, and the report explains every peer. Some moments also cut the
log mid-line, as a power loss with unsynced writes would (`--fsync` bounds how much).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bulkdel.audit import read_audit
from bulkdel.commands import report_command
from bulkdel.simulator import SimHandle

from .chaos_plugin import chaos_runs, chaos_seed
from .conftest import CliResult, cli_env, main_exit_code, run_cli, simulator, use_env
from .test_chaos import (
    assert_every_interface_keeps_a_peer,
    assert_outcomes_match_server,
    assert_wire_matches_audit,
    trails,
    wait_until_quiet,
)

ENGINE = ["--log-format", "json", "--yes", "--rate", "100", "--burst", "4", "--max-attempts", "10"]
SUCCESS = frozenset({"deleted", "gone", "protected"})
#: Kill moments per --chaos-runs (the default 2 runs give the 10 the issue asks for).
MOMENTS_PER_RUN = 5


@dataclass
class Killed:
    """What one killed run left behind."""

    pid: int
    killed: bool  # False: the run finished before the kill moment
    records_at_kill: int
    sidecar_left: bool
    torn: bool = False  # the tail was cut mid-line afterwards (simulated power loss)
    in_flight: int = 0  # DELETEs dispatched but unanswered when it died


class InProcessCli:
    """`bulkdel ARGS` in this process (no interpreter start-up), with `env` applied."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.mp = monkeypatch
        self.capsys = capsys

    def __call__(self, args: list[str], env: dict[str, str]) -> CliResult:
        use_env(self.mp, env)
        self.capsys.readouterr()
        code = main_exit_code(args)
        out = self.capsys.readouterr()
        return CliResult(code, out.out, out.err)


def line_count(path: Path) -> int:
    """Complete lines in the file so far (0 if it does not exist yet)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def start_cli(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m bulkdel ARGS` in the background, stderr to `log`."""
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "bulkdel", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def run_and_kill(
    args: list[str], env: dict[str, str], audit: Path, kill_at: int, rng: random.Random
) -> Killed:
    """Start a run and SIGKILL it once the audit log has `kill_at` lines (plus a little)."""
    proc = start_cli(args, env, audit.with_suffix(".stderr"))
    deadline = time.monotonic() + 30
    killed = False
    try:
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the run neither progressed nor finished"
            if line_count(audit) >= kill_at:
                time.sleep(rng.uniform(0, 0.03))  # land anywhere, not just after a write
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.002)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed = killed and proc.returncode == -signal.SIGKILL
    sidecar = audit.with_name(audit.name + ".lock")
    if sidecar.exists():
        assert sidecar.stat().st_mode & 0o777 == 0o600
    return Killed(proc.pid, killed, line_count(audit), sidecar.exists())


def cut_tail(audit: Path, rng: random.Random) -> bool:
    """Cut the last line in the middle (maybe NUL-padded), as a power cut can leave it."""
    data = audit.read_bytes()
    if data.count(b"\n") < 2:
        return False
    last_start = data.rindex(b"\n", 0, len(data) - 1) + 1
    cut = rng.randint(last_start + 1, len(data) - 2)
    padding = b"\x00" * rng.choice([0, 0, 17, 512])  # ext4 can leave zeroed blocks
    audit.write_bytes(data[:cut] + padding)
    return True


def events(res: CliResult, name: str) -> list[dict[str, Any]]:
    """Log events of one name on the CLI's stderr."""
    return [e for e in res.events() if e.get("event") == name]


def finals_by_run(records: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Per run, how many finals each peer got."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        if r["event"] == "final":
            out[r["run"]][r["peer_id"]] += 1
    return out


def latest_outcomes(records: list[dict[str, Any]]) -> dict[str, str]:
    """Each peer's latest telling outcome (`skipped` does not replace an earlier one)."""
    out: dict[str, str] = {}
    for r in records:
        if r["event"] == "final" and (r["peer_id"] not in out or r["outcome"] != "skipped"):
            out[r["peer_id"]] = r["outcome"]
    return out


def check_after_recovery(
    sim: SimHandle, audit: Path, requested: list[str], fleet_peers: set[str], k: Killed
) -> None:
    """Every invariant across the killed run, its replay and the resume."""
    wait_until_quiet(sim)
    assert_every_interface_keeps_a_peer(sim)
    records = list(read_audit(audit).records)
    by_peer = trails(records, sim.log())
    # Finals: at most one per peer per run; the runs after the crash completed.
    for run, counts in finals_by_run(records).items():
        assert max(counts.values()) == 1, f"run {run}: a peer has two finals"
    finished = [r for r in records if r["event"] == "run_finished"]
    assert finished, "no run finished after the crash"
    assert finished[-1]["exit_code"] == 0
    # The wire: a dispatch for every DELETE sent (unless the power cut took it), no 204 twice.
    if not k.torn:
        assert_wire_matches_audit(by_peer, complete=False)
        killed_run = records[0]["run"] if records else None
        open_: Counter[tuple[str, str]] = Counter()
        for r in records:
            if r["event"] in ("dispatch", "response"):
                open_[(r["run"], r["peer_id"])] += 1 if r["event"] == "dispatch" else -1
        for (run, peer), unanswered in open_.items():
            assert unanswered >= 0, f"{peer}: a response without its dispatch in run {run}"
            if unanswered:
                assert k.killed, f"{peer}: a dispatch without response in a run nobody killed"
                assert run == killed_run, f"{peer}: lost a response outside the killed run"
                assert unanswered == 1, f"{peer}: {unanswered} dispatches without response"
    for peer, t in by_peer.items():
        answered = Counter(e["status"] for e in t.wire)
        assert answered[204] <= 1, f"{peer}: the server answered 204 twice"
    # Outcomes: every requested peer explained, and consistent with the server.
    latest = latest_outcomes(records)
    assert set(latest) == set(requested), "a requested peer has no outcome after recovery"
    assert set(latest.values()) <= SUCCESS, Counter(latest.values())
    remaining = set(sim.state.peer_ids())
    if not k.torn:
        # Re-order finals so the trail's last final is the latest telling one.
        for t in by_peer.values():
            t.finals = [f for f in t.finals if f["outcome"] != "skipped"] or t.finals
        assert_outcomes_match_server(by_peer, fleet_peers, remaining)
    removed = fleet_peers - remaining
    assert removed == {p for p, o in latest.items() if o in {"deleted", "gone"}}
    report = json.loads(report_command(str(audit), None, "json"))
    assert report["unfinished"] == 0
    assert report["peers"] == len(requested)
    assert sum(report["counts"].values()) == len(requested)
    assert set(report["counts"]) <= SUCCESS


def one_moment(tmp_path: Path, seed: int, cli: InProcessCli) -> Killed:
    """Run (in a child), kill at a seeded moment, replay, resume; check everything."""
    rng = random.Random(f"bulkdel-crash:{seed}")
    with simulator(
        interfaces=10,
        seed=seed,
        two_peer_ratio=1.0,
        latency_ms=30,
        jitter_ms=50,
        fault_rate=0.1,
        fault_mix={"5xx": 1.0, "applied_500": 1.0, "reset": 0.5},
    ) as sim:
        fleet_peers = set(sim.state.peer_ids())
        requested = sorted(fleet_peers)
        inv = tmp_path / "inv.txt"
        inv.write_text("\n".join(requested) + "\n")
        audit = tmp_path / "audit.jsonl"
        env = cli_env(sim)
        fsync = rng.choice(["always", "batch", "never"])
        run_args = ["run", str(inv), "--audit", str(audit), *ENGINE, "--fsync", fsync]
        # About 1 + 10 + 10 x 3 records, plus retries: kill anywhere from run_started on.
        k = run_and_kill([*run_args, "--concurrency", "4"], env, audit, rng.randint(1, 42), rng)
        wait_until_quiet(sim)
        read = read_audit(audit)  # readable right after the kill
        assert all(r["v"] == 1 for r in read.records)
        events_seen = Counter(r["event"] for r in read.records)
        k.in_flight = events_seen["dispatch"] - events_seen["response"]
        if k.killed and rng.random() < 0.25:
            k.torn = cut_tail(audit, rng)

        replay = cli(["replay", str(audit), *ENGINE], env)
        assert replay.code == 0, replay.stderr
        if k.torn:
            assert events(replay, "audit.torn_tail"), "a torn tail must be reported"
        resume = cli([*run_args, "--resume"], env)
        assert resume.code == 0, resume.stderr
        if k.sidecar_left:
            # Whichever command opened the log first must have reported the dead holder.
            stale = events(replay, "audit.stale_lock") + events(resume, "audit.stale_lock")
            assert stale, "the leftover lock sidecar of the killed run was not reported"
            assert f"pid {k.pid}" in stale[0]["detail"]
            assert "bulkdel replay" in stale[0]["detail"]
        assert not audit.with_name(audit.name + ".lock").exists(), "a clean run left its sidecar"
        check_after_recovery(sim, audit, requested, fleet_peers, k)
        return k


def test_kill_9_at_seeded_moments_then_replay_and_resume(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """At ≥ 10 seeded kill moments, recovery keeps every invariant and explains every peer."""
    n = chaos_runs(request.config) * MOMENTS_PER_RUN
    first = chaos_seed(request.config)
    cli = InProcessCli(monkeypatch, capsys)
    results = []
    for i in range(n):
        where = tmp_path / f"m{i}"
        where.mkdir()
        results.append(one_moment(where, first * 1000 + i, cli))
    killed = [k for k in results if k.killed]
    assert len(killed) >= n * 0.7, f"most moments must land before the run ends: {results}"
    assert any(k.sidecar_left for k in killed), "no kill left a lock sidecar behind"
    assert any(k.in_flight for k in killed), "no kill landed while a DELETE was on the wire"


def test_stale_lock_of_a_killed_holder_is_reported_and_does_not_block(tmp_path: Path) -> None:
    """A live holder blocks a second run; once killed, the next run proceeds and names it."""
    with simulator(interfaces=6, seed=9, two_peer_ratio=1.0) as sim:
        inv = tmp_path / "inv.txt"
        inv.write_text("\n".join(sim.state.peer_ids()) + "\n")
        audit = tmp_path / "audit.jsonl"
        env = cli_env(sim)
        later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        args = ["run", str(inv), "--audit", str(audit), *ENGINE]
        holder = start_cli([*args, "--not-before", later], env, tmp_path / "holder.stderr")
        sidecar = audit.with_name(audit.name + ".lock")
        try:
            deadline = time.monotonic() + 15
            while not sidecar.exists():
                assert holder.poll() is None, (tmp_path / "holder.stderr").read_text()
                assert time.monotonic() < deadline, "the holder never took the lock"
                time.sleep(0.01)
            started = time.monotonic()
            blocked = run_cli(args, env)
            assert time.monotonic() - started < 5, "a second run must fail fast"
            assert blocked.code == 2
            assert f"in use by another bulkdel run (pid {holder.pid}" in blocked.stderr
            assert "use another --audit file" in blocked.stderr
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(10)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
        assert sidecar.exists(), "kill -9 leaves the sidecar behind: the case under test"
        assert sim.stats()["deletes_received"] == 0
        after = run_cli(args, env)
        assert after.code == 0, after.stderr
        (stale,) = events(after, "audit.stale_lock")
        assert f"pid {holder.pid}" in stale["detail"]
        assert "did not finish cleanly" in stale["detail"]
        assert "bulkdel replay" in stale["detail"]
        assert not sidecar.exists()
        assert audit.stat().st_mode & 0o777 == 0o600


def test_replay_after_an_early_kill_explains_every_requested_peer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed after its first dispatch, a run's other planned peers are still replayed."""
    cli = InProcessCli(monkeypatch, capsys)
    with simulator(interfaces=6, seed=33, two_peer_ratio=1.0, latency_ms=20) as sim:
        requested = sim.state.peer_ids()
        inv = tmp_path / "inv.txt"
        inv.write_text("\n".join(requested) + "\n")
        audit = tmp_path / "audit.jsonl"
        slow = ["--rate", "2", "--burst", "1", "--concurrency", "1"]
        args = ["run", str(inv), "--audit", str(audit), "--log-format", "json", "--yes", *slow]
        # run_started, six protected finals, then the first dispatch: kill there.
        k = run_and_kill(args, cli_env(sim), audit, 8, random.Random(0))
        assert k.killed
        wait_until_quiet(sim)
        replay = cli(["replay", str(audit), *ENGINE], cli_env(sim))
        assert replay.code == 0, replay.stderr
        wait_until_quiet(sim)
        assert_every_interface_keeps_a_peer(sim)
        report = json.loads(report_command(str(audit), None, "json"))
        assert report["unfinished"] == 0
        assert report["peers"] == len(requested), (
            f"after the crash and replay the report explains {report['peers']} of "
            f"{len(requested)} requested peers: {report['counts']}"
        )
        assert set(report["counts"]) <= SUCCESS
