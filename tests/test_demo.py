"""`bulkdel simulate` as a process and `bulkdel demo` end to end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from .conftest import cli_env, run_cli


def test_simulate_prints_credentials_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """One JSON line on stdout; export works against it; SIGTERM stops it cleanly."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulkdel",
            "simulate",
            "--port",
            "0",
            "--interfaces",
            "7",
            "--seed",
            "4",
            "--log-format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"endpoint", "project_id", "token", "ak", "sk"}
        out = tmp_path / "state.json"
        env = cli_env(
            BULKDEL_TOKEN=info["token"],
            BULKDEL_ENDPOINT=info["endpoint"],
            BULKDEL_PROJECT_ID=info["project_id"],
        )
        res = run_cli(["export", "--out", str(out), "--log-format", "json"], env)
        assert res.code == 0, res.stderr
        assert len(json.loads(out.read_text())["virtual_interfaces"]) == 7
        # The printed AK/SK work too: the simulator verifies signatures.
        env.pop("BULKDEL_TOKEN")
        env.update(HUAWEICLOUD_SDK_AK=info["ak"], HUAWEICLOUD_SDK_SK=info["sk"])
        res = run_cli(["doctor"], env)
        assert res.code == 0, res.stdout + res.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert info["token"] not in err.decode()


def test_demo_runs_plan_run_report() -> None:
    """`bulkdel demo` plans, runs and reports the sample inventory, exiting 0."""
    res = run_cli(["demo", "--log-format", "json"], cli_env())
    assert res.code == 0, res.stderr
    assert "== plan ==" in res.stdout
    assert "== report ==" in res.stdout
    assert "deleted" in res.stdout
