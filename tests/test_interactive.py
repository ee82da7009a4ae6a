"""A person at a terminal: the confirmation prompt, and a second signal that cancels at once."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bulkdel.simulator import SimHandle

from .conftest import SAMPLES, cli_env, read_jsonl, simulator, write_ipv6_inventory


def _run_on_pty(args: list[str], env: dict[str, str], answer: bytes) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin/stderr; answer the first prompt."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkdel", *args],
        stdin=follower,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 30
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(leader, answer)
                answered = True
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(leader)
    return proc.returncode, seen.decode(errors="replace")


def test_confirmation_names_project_endpoint_and_counts(sim: SimHandle, tmp_path: Path) -> None:
    """On a terminal, run asks first; 'n' sends nothing and exits 2."""
    code, screen = _run_on_pty(
        [
            "run",
            str(SAMPLES / "inventory.csv"),
            "--audit",
            str(tmp_path / "a.jsonl"),
            "--log-format",
            "json",
        ],
        cli_env(sim),
        b"n\n",
    )
    assert code == 2, screen
    assert sim.project_id in screen
    assert sim.endpoint in screen
    assert "Delete 5 vif peer(s)" in screen
    assert "protected 12" in screen
    assert sim.stats()["deletes_received"] == 0


def test_confirmation_yes_runs(sim: SimHandle, tmp_path: Path) -> None:
    """Answering 'y' runs the deletions."""
    audit = tmp_path / "a.jsonl"
    code, screen = _run_on_pty(
        ["run", str(SAMPLES / "inventory.csv"), "--audit", str(audit), "--log-format", "json"],
        cli_env(sim),
        b"y\n",
    )
    assert code == 0, screen
    assert sim.stats()["deletes_applied"] == 5


def test_second_signal_cancels_in_flight_requests(tmp_path: Path) -> None:
    """SIGTERM twice: stalled requests are cancelled at once and end unknown, audit complete."""
    with simulator(
        interfaces=20,
        seed=41,
        two_peer_ratio=1.0,
        fault_rate=1.0,
        fault_mix={"stall": 1.0},
        stall_s=60,
    ) as sim:
        inv = tmp_path / "v6.txt"
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
                "--yes",
                "--log-format",
                "json",
                "--concurrency",
                "4",
                "--timeout",
                "50s",
                "--drain-timeout",
                "40s",
            ],
            env=cli_env(sim),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sim.stats()["deletes_received"] >= 4:  # all four workers' requests hang
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 10, "the second signal did not cancel at once"
        assert proc.returncode == 3, err.decode()
        records = read_jsonl(audit)
        assert records[-1]["event"] == "run_finished"
        finals = {r["peer_id"]: r["outcome"] for r in records if r["event"] == "final"}
        assert set(finals) == set(ids)
        counts = Counter(finals.values())
        assert counts["unknown"] == 4
        assert counts["deferred"] == len(ids) - 4
        cancelled = [
            r for r in records if r["event"] == "response" and r["error_code"] == "cancelled"
        ]
        assert len(cancelled) == 4


def test_torn_last_line_is_tolerated_and_reported(sim: SimHandle, tmp_path: Path) -> None:
    """A crash-torn final line: report and resume still work and say so."""
    from .conftest import run_cli

    audit = tmp_path / "a.jsonl"
    res = run_cli(
        [
            "run",
            str(SAMPLES / "inventory.csv"),
            "--audit",
            str(audit),
            "--yes",
            "--log-format",
            "json",
        ],
        cli_env(sim),
    )
    assert res.code == 0, res.stderr
    with audit.open("ab") as fh:
        fh.write(b'{"v":1,"ts":"2026-12-03T01:02:03.456Z","run":"x","event":"disp')
    rep = run_cli(["report", str(audit), "--format", "json", "--log-format", "json"], cli_env())
    assert rep.code == 0, rep.stderr
    assert "torn" in rep.stderr
    again = run_cli(
        [
            "run",
            str(SAMPLES / "inventory.csv"),
            "--audit",
            str(audit),
            "--yes",
            "--resume",
            "--log-format",
            "json",
        ],
        cli_env(sim),
    )
    assert again.code == 0, again.stderr
    lines = audit.read_bytes().split(b"\n")
    assert any(line.endswith(b'"event":"disp') for line in lines), "the torn line was rewritten"
    assert read_jsonl_tolerant(audit)[-1]["event"] == "run_finished"


def read_jsonl_tolerant(path: Path) -> list[dict[str, object]]:
    """Records of an audit log, skipping a torn line."""
    import json

    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
