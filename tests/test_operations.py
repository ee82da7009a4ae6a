"""Operations end to end: windows, resume, signals, plan files, locking, report vs. server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bulkdel.audit import AuditWriter
from bulkdel.simulator import SimHandle

from .conftest import SAMPLES, cli_env, read_jsonl, run_cli, simulator, write_ipv6_inventory

QUIET = ["--log-format", "json", "--yes"]


def _finals(records: list[dict[str, Any]], run: str | None = None) -> dict[str, dict[str, Any]]:
    return {
        r["peer_id"]: r
        for r in records
        if r["event"] == "final" and (run is None or r["run"] == run)
    }


def _no_double_delete(sim: SimHandle) -> None:
    applied = Counter(e["peer_id"] for e in sim.log() if e["status"] == 204)
    assert applied, "nothing was deleted"
    assert max(applied.values()) == 1, "a peer got two 204s"


def test_window_closes_then_resume_finishes(tmp_path: Path) -> None:
    """--max-duration cuts the run (exit 3, rest deferred); --resume finishes, no peer twice."""
    with simulator(interfaces=40, seed=21, two_peer_ratio=1.0, latency_ms=20) as sim:
        inv = tmp_path / "v6.csv"
        ids = write_ipv6_inventory(sim, inv)
        audit = tmp_path / "a.jsonl"
        first = run_cli(
            [
                "run",
                str(inv),
                "--audit",
                str(audit),
                *QUIET,
                "--rate",
                "15",
                "--max-duration",
                "1s",
                "--drain-timeout",
                "5s",
            ],
            cli_env(sim),
        )
        assert first.code == 3, first.stderr
        assert "--resume" in first.stderr
        assert f"bulkdel replay {audit}" in first.stderr
        records = read_jsonl(audit)
        finished = [r for r in records if r["event"] == "run_finished"]
        assert finished[-1]["stop_reason"] == "window_closed"
        run1 = finished[-1]["run"]
        outcomes = Counter(f["outcome"] for f in _finals(records, run1).values())
        assert outcomes["deferred"] > 0
        assert outcomes["deleted"] > 0
        assert sum(outcomes.values()) == len(ids)

        second = run_cli(
            ["run", str(inv), "--audit", str(audit), *QUIET, "--rate", "100", "--resume"],
            cli_env(sim),
        )
        assert second.code == 0, second.stderr
        records = read_jsonl(audit)
        started = [r for r in records if r["event"] == "run_started"]
        assert started[-1]["resumed_from"] == [run1]
        run2 = started[-1]["run"]
        again = Counter(f["outcome"] for f in _finals(records, run2).values())
        assert again["skipped"] == outcomes["deleted"]
        assert again["deleted"] == len(ids) - outcomes["deleted"]
        _no_double_delete(sim)
        assert sim.stats()["deletes_applied"] == len(ids)


def test_not_after_in_the_past_defers_everything(sim: SimHandle, tmp_path: Path) -> None:
    """A window that has already closed sends nothing and exits 3 with every peer deferred."""
    audit = tmp_path / "a.jsonl"
    past = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    res = run_cli(
        ["run", str(SAMPLES / "inventory.csv"), "--audit", str(audit), *QUIET, "--not-after", past],
        cli_env(sim),
    )
    assert res.code == 3, res.stderr
    assert sim.stats()["deletes_received"] == 0
    outcomes = Counter(f["outcome"] for f in _finals(read_jsonl(audit)).values())
    assert outcomes == {"deferred": 5, "protected": 12, "gone": 1}


def test_not_before_waits(sim: SimHandle, tmp_path: Path) -> None:
    """--not-before waits (logging until when) and then runs."""
    audit = tmp_path / "a.jsonl"
    start = datetime.now(UTC) + timedelta(seconds=2)
    started = time.monotonic()
    res = run_cli(
        [
            "run",
            str(SAMPLES / "inventory.csv"),
            "--audit",
            str(audit),
            *QUIET,
            "--not-before",
            start.isoformat(),
        ],
        cli_env(sim),
    )
    assert res.code == 0, res.stderr
    assert time.monotonic() - started >= 1.5
    waiting = [e for e in res.events() if e.get("event") == "window.waiting"]
    assert waiting
    assert "until" in waiting[0]
    first_dispatch = next(r for r in read_jsonl(audit) if r["event"] == "dispatch")
    assert first_dispatch["ts"] >= start.strftime("%Y-%m-%dT%H:%M:%S")


def test_sigterm_drains_and_stops_dispatching(tmp_path: Path) -> None:
    """The first SIGTERM: no new DELETE, in-flight ones finish, every peer has a final."""
    with simulator(interfaces=60, seed=22, two_peer_ratio=1.0, latency_ms=200) as sim:
        inv = tmp_path / "v6.csv"
        ids = write_ipv6_inventory(sim, inv)
        audit = tmp_path / "a.jsonl"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bulkdel",
                "run",
                str(inv),
                "--audit",
                str(audit),
                *QUIET,
                "--rate",
                "20",
                "--concurrency",
                "4",
            ],
            env=cli_env(sim),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if audit.exists() and audit.read_text().count('"dispatch"') >= 6:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        received_at_signal = sim.stats()["deletes_received"]
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err.decode()
        records = read_jsonl(audit)
        assert records[-1]["event"] == "run_finished"
        assert records[-1]["stop_reason"] == "interrupted"
        assert set(_finals(records)) == set(ids)
        # Only requests already on their way (at most the concurrency) may arrive afterwards.
        assert sim.stats()["deletes_received"] <= received_at_signal + 4
        deferred = [f for f in _finals(records).values() if f["outcome"] == "deferred"]
        assert deferred


def test_max_deletes_is_exact_end_to_end(tmp_path: Path) -> None:
    """--max-deletes 7 at concurrency 8: the server applies exactly 7 deletions; exit 3."""
    with simulator(interfaces=30, seed=23, two_peer_ratio=1.0, latency_ms=10) as sim:
        inv = tmp_path / "v6.csv"
        write_ipv6_inventory(sim, inv)
        audit = tmp_path / "a.jsonl"
        res = run_cli(
            [
                "run",
                str(inv),
                "--audit",
                str(audit),
                *QUIET,
                "--rate",
                "500",
                "--concurrency",
                "8",
                "--max-deletes",
                "7",
            ],
            cli_env(sim),
        )
        assert res.code == 3, res.stderr
        assert sim.stats()["deletes_applied"] == 7
        records = read_jsonl(audit)
        assert records[-1]["stop_reason"] == "max_deletes"
        assert Counter(f["outcome"] for f in _finals(records).values())["deleted"] == 7


def test_plan_file_runs_exactly_and_drift_only_removes(tmp_path: Path) -> None:
    """run --plan deletes what the plan says; a peer that became last is protected instead."""
    with simulator(interfaces=6, seed=24, two_peer_ratio=1.0) as sim:
        listing = sim.state.to_listing()["virtual_interfaces"]
        v4 = [
            next(p["id"] for p in v["vif_peers"] if p["address_family"] == "ipv4") for v in listing
        ]
        inv = tmp_path / "v4.csv"
        inv.write_text("\n".join(v4) + "\n")
        plan = tmp_path / "plan.json"
        res = run_cli(["plan", str(inv), "--out", str(plan), "--log-format", "json"], cli_env(sim))
        assert res.code == 0, res.stderr
        assert plan.stat().st_mode & 0o777 == 0o600
        # Drift: the IPv6 peer of the first interface disappears, so its IPv4 peer is now last.
        v6_first = next(p["id"] for p in listing[0]["vif_peers"] if p["address_family"] == "ipv6")
        sim.state.delete_peer(v6_first)
        audit = tmp_path / "a.jsonl"
        res = run_cli(["run", "--plan", str(plan), "--audit", str(audit), *QUIET], cli_env(sim))
        assert res.code == 0, res.stderr
        finals = _finals(read_jsonl(audit))
        assert finals[v4[0]]["outcome"] == "protected"
        assert all(finals[p]["outcome"] == "deleted" for p in v4[1:])
        started = read_jsonl(audit)[0]
        assert started["plan_sha256"] == json.loads(plan.read_text())["sha256"]


def test_tampered_plan_is_refused(sim: SimHandle, tmp_path: Path) -> None:
    """A plan edited after it was written is refused with exit 2 and nothing sent."""
    plan = tmp_path / "plan.json"
    res = run_cli(
        ["plan", str(SAMPLES / "inventory.csv"), "--out", str(plan), "--log-format", "json"],
        cli_env(sim),
    )
    assert res.code == 0, res.stderr
    doc = json.loads(plan.read_text())
    protected = next(d for d in doc["decisions"] if d["planned"] == "protected")
    protected["planned"] = "delete"
    plan.write_text(json.dumps(doc))
    res = run_cli(
        ["run", "--plan", str(plan), "--audit", str(tmp_path / "a.jsonl"), *QUIET], cli_env(sim)
    )
    assert res.code == 2
    assert "sha256 mismatch" in res.stderr
    assert sim.stats()["deletes_received"] == 0


def test_second_run_on_a_locked_audit_fails_fast(sim: SimHandle, tmp_path: Path) -> None:
    """While another run holds the audit log, a second run exits 2 and sends nothing."""
    audit = tmp_path / "a.jsonl"
    with AuditWriter.open(str(audit)):
        started = time.monotonic()
        res = run_cli(
            ["run", str(SAMPLES / "inventory.csv"), "--audit", str(audit), *QUIET], cli_env(sim)
        )
        assert time.monotonic() - started < 10
    assert res.code == 2
    assert "in use" in res.stderr
    assert sim.stats()["requests_total"] == 0


def test_report_matches_the_servers_counts(tmp_path: Path) -> None:
    """report --format json agrees with the simulator's own counters."""
    mix = {"5xx": 1.0, "reset": 1.0}
    with simulator(
        interfaces=50, seed=25, two_peer_ratio=1.0, fault_rate=0.2, fault_mix=mix, rate_limit=40
    ) as sim:
        inv = tmp_path / "v6.csv"
        ids = write_ipv6_inventory(sim, inv)
        audit = tmp_path / "a.jsonl"
        res = run_cli(
            [
                "run",
                str(inv),
                "--audit",
                str(audit),
                *QUIET,
                "--rate",
                "80",
                "--max-attempts",
                "10",
            ],
            cli_env(sim),
        )
        assert res.code == 0, res.stderr
        rep = run_cli(["report", str(audit), "--format", "json"], cli_env())
        assert rep.code == 0, rep.stderr
        doc = json.loads(rep.stdout)
        stats = sim.stats()
        assert doc["counts"] == {"deleted": len(ids)}
        assert doc["counts"]["deleted"] == stats["deletes_applied"]
        assert doc["throttled"] == stats["by_status"].get("429", 0)
        assert doc["dispatches"] == stats["deletes_received"]
        assert doc["retries"] == stats["deletes_received"] - len(ids)
        assert set(doc["latency_ms"]) >= {"p50", "p95", "p99"}
        assert doc["runs"][0]["stop_reason"] == "completed"
        per_peer = run_cli(["report", str(audit), "--format", "json", "--peers"], cli_env())
        assert json.loads(per_peer.stdout)["by_peer"] == dict.fromkeys(ids, "deleted")
        for fmt in ("table", "markdown"):
            text = run_cli(["report", str(audit), "--format", fmt], cli_env())
            assert text.code == 0
            assert str(len(ids)) in text.stdout
