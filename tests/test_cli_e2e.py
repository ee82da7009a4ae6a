"""End to end: the real CLI in a subprocess against the simulator on loopback."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bulkdel.simulator import LAST_PEER_ERROR_CODE, SimHandle

from .conftest import SAMPLES, cli_env, read_jsonl, run_cli, simulator, write_ipv6_inventory

FAST = ["--log-format", "json", "--yes", "--rate", "200", "--burst", "5"]


def _finals(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    finals: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["event"] == "final":
            assert r["peer_id"] not in finals, f"two finals for {r['peer_id']}"
            finals[r["peer_id"]] = r
    return finals


def _all_peers_csv(sim: SimHandle, path: Path) -> list[str]:
    ids = sim.state.peer_ids()
    path.write_text("vif_peer_id\n" + "".join(f"{p}\n" for p in ids))
    return ids


def _every_vif_has_a_peer(sim: SimHandle) -> None:
    for vif in sim.state.to_listing()["virtual_interfaces"]:
        assert vif["vif_peers"], f"interface {vif['id']} lost its last peer"


@pytest.mark.parametrize(
    "sample",
    [
        "inventory.csv",
        "inventory.csv.gz",
        "inventory.txt",
        "inventory.json",
        "inventory-objects.json",
        "inventory.jsonl",
    ],
)
def test_each_sample_format_runs_to_completion(sim: SimHandle, tmp_path: Path, sample: str) -> None:
    """Every inventory format deletes the same peers, protects the same ones, exits 0."""
    audit = tmp_path / "a.jsonl"
    res = run_cli(["run", str(SAMPLES / sample), "--audit", str(audit), *FAST], cli_env(sim))
    assert res.code == 0, res.stderr
    counts = Counter(r["outcome"] for r in _finals(read_jsonl(audit)).values())
    assert counts == {"deleted": 5, "protected": 12, "gone": 1}
    _every_vif_has_a_peer(sim)


def test_stdin_inventory(sim: SimHandle, tmp_path: Path) -> None:
    """`-` reads the inventory from stdin, gzipped or not."""
    audit = tmp_path / "a.jsonl"
    data = gzip.compress((SAMPLES / "inventory.txt").read_bytes())
    res = run_cli(["run", "-", "--audit", str(audit), *FAST], cli_env(sim), stdin=data)
    assert res.code == 0, res.stderr
    assert len(_finals(read_jsonl(audit))) == 18


def test_listing_inventory_keeps_one_peer_per_interface(sim: SimHandle, tmp_path: Path) -> None:
    """A ListVirtualInterfaces inventory requests every peer; each interface keeps one."""
    audit = tmp_path / "a.jsonl"
    inv = SAMPLES / "listing-inventory.json"
    res = run_cli(["run", str(inv), "--audit", str(audit), *FAST], cli_env(sim))
    assert res.code == 0, res.stderr
    finals = _finals(read_jsonl(audit))
    protected = [f for f in finals.values() if f["outcome"] == "protected"]
    assert len(protected) == 5  # five interfaces in the listing
    assert all(f["vif_id"] in f["reason"] for f in protected)
    _every_vif_has_a_peer(sim)


def test_protection_with_one_and_two_peer_interfaces(tmp_path: Path) -> None:
    """Asking for every peer deletes only IPv6 peers and keeps each interface's IPv4 one."""
    with simulator(interfaces=30, seed=5) as sim:
        inv = tmp_path / "all.csv"
        ids = _all_peers_csv(sim, inv)
        audit = tmp_path / "a.jsonl"
        res = run_cli(["run", str(inv), "--audit", str(audit), *FAST], cli_env(sim))
        assert res.code == 0, res.stderr
        finals = _finals(read_jsonl(audit))
        assert set(finals) == set(ids)
        counts = Counter(f["outcome"] for f in finals.values())
        assert counts["protected"] == 30
        assert counts["deleted"] == len(ids) - 30
        remaining = sim.state.to_listing()["virtual_interfaces"]
        assert all([p["address_family"] for p in v["vif_peers"]] == ["ipv4"] for v in remaining)
        assert sim.stats()["by_status"].get("400", 0) == 0


def test_throttling_server_ends_without_failures(tmp_path: Path) -> None:
    """A server limit below the client's rate causes 429s that are retried to completion."""
    with simulator(interfaces=60, seed=7, rate_limit=10, two_peer_ratio=1.0) as sim:
        inv = tmp_path / "all.csv"
        _all_peers_csv(sim, inv)
        audit = tmp_path / "a.jsonl"
        res = run_cli(
            [
                "run",
                str(inv),
                "--audit",
                str(audit),
                "--log-format",
                "json",
                "--yes",
                "--rate",
                "40",
                "--concurrency",
                "8",
                "--max-attempts",
                "10",
            ],
            cli_env(sim),
        )
        assert res.code == 0, res.stderr
        records = read_jsonl(audit)
        counts = Counter(f["outcome"] for f in _finals(records).values())
        assert counts == {"deleted": 60, "protected": 60}
        throttled = [r for r in records if r["event"] == "response" and r["status"] == 429]
        assert throttled, "the server never throttled: the test did not test anything"
        assert all(r["error_code"] == "APIGW.0308" for r in throttled)


def test_seeded_faults_end_with_every_peer_terminal(tmp_path: Path) -> None:
    """5xx, resets and applied-then-500 faults all end as deleted or gone, audit complete."""
    mix = {"5xx": 1.0, "reset": 1.0, "applied_500": 1.0}
    with simulator(
        interfaces=60, seed=11, fault_rate=0.3, fault_mix=mix, two_peer_ratio=1.0
    ) as sim:
        inv = tmp_path / "all.csv"
        _all_peers_csv(sim, inv)
        audit = tmp_path / "a.jsonl"
        res = run_cli(
            ["run", str(inv), "--audit", str(audit), *FAST, "--max-attempts", "12"], cli_env(sim)
        )
        assert res.code == 0, res.stderr
        records = read_jsonl(audit)
        finals = _finals(records)
        assert len(finals) == 120
        assert {f["outcome"] for f in finals.values()} <= {"deleted", "gone", "protected"}
        log = sim.log()
        dispatches = [r for r in records if r["event"] == "dispatch"]
        assert len(dispatches) == len(log), "a DELETE left without its own dispatch record"
        answered = Counter((e["peer_id"], e["status"]) for e in log if e["status"] is not None)
        responded = Counter(
            (r["peer_id"], r["status"])
            for r in records
            if r["event"] == "response" and r["status"] is not None
        )
        assert answered == responded
        assert sim.stats()["faults"], "no fault was injected"
        _every_vif_has_a_peer(sim)


def test_server_sees_rate_and_caps_respected(tmp_path: Path) -> None:
    """The simulator's own stats: sliding-second peak ≤ rate + burst, in-flight ≤ caps."""
    with simulator(interfaces=150, seed=3, latency_ms=30, two_peer_ratio=1.0) as sim:
        inv = tmp_path / "v6.csv"
        write_ipv6_inventory(sim, inv)
        audit = tmp_path / "a.jsonl"
        res = run_cli(
            [
                "run",
                str(inv),
                "--audit",
                str(audit),
                "--log-format",
                "json",
                "--yes",
                "--rate",
                "50",
                "--burst",
                "2",
                "--concurrency",
                "3",
            ],
            cli_env(sim),
        )
        assert res.code == 0, res.stderr
        stats = sim.stats()
        assert stats["deletes_applied"] == 150
        assert stats["peak_sliding_second"] <= 52
        assert stats["peak_in_flight"] <= 3
        assert stats["peak_in_flight_per_vif"] <= 1


def test_last_peer_refusal_is_failed_not_retried(tmp_path: Path) -> None:
    """If the server refuses a last peer (state drifted), the peer fails without a retry."""
    with simulator(interfaces=4, seed=2, two_peer_ratio=0.0) as sim:
        # A stale saved listing claims a second peer that no longer exists.
        listing = sim.state.to_listing()
        vif = listing["virtual_interfaces"][0]
        real = vif["vif_peers"][0]["id"]
        vif["vif_peers"].append(
            {
                **vif["vif_peers"][0],
                "id": "11111111-1111-4111-8111-111111111111",
                "address_family": "ipv6",
            }
        )
        state = tmp_path / "state.json"
        import json

        state.write_text(json.dumps(listing))
        inv = tmp_path / "one.csv"
        inv.write_text(real + "\n")
        audit = tmp_path / "a.jsonl"
        res = run_cli(
            ["run", str(inv), "--state", str(state), "--audit", str(audit), *FAST], cli_env(sim)
        )
        assert res.code == 1, res.stderr
        records = read_jsonl(audit)
        (final,) = _finals(records).values()
        assert final["outcome"] == "failed"
        assert final["attempts"] == 1
        assert LAST_PEER_ERROR_CODE in final["reason"]
        _every_vif_has_a_peer(sim)


def test_bad_inventory_exits_2_and_sends_nothing(sim: SimHandle, tmp_path: Path) -> None:
    """An invalid ID stops the run before any request, naming file, line and fix."""
    inv = tmp_path / "bad.csv"
    inv.write_text("vif_peer_id\n68250543-0a13-4ac7-aa36-d018856ac640\n../virtual-interfaces/x\n")
    res = run_cli(["run", str(inv), "--audit", str(tmp_path / "a.jsonl"), *FAST], cli_env(sim))
    assert res.code == 2
    assert f"{inv}:3" in res.stderr
    stats = sim.stats()
    assert stats["requests_total"] == 0
    assert not (tmp_path / "a.jsonl").exists()


def test_no_tty_without_yes_refuses(sim: SimHandle, tmp_path: Path) -> None:
    """Without a terminal and without --yes, run refuses with exit 2 and sends nothing."""
    res = run_cli(
        ["run", str(SAMPLES / "inventory.csv"), "--audit", str(tmp_path / "a.jsonl")],
        cli_env(sim),
        stdin=b"",
    )
    assert res.code == 2
    assert "--yes" in res.stderr
    assert sim.stats()["requests_total"] == 0


def test_dry_run_sends_no_delete(sim: SimHandle, tmp_path: Path) -> None:
    """--dry-run lists live state but sends no DELETE; outcomes are would_delete."""
    audit = tmp_path / "a.jsonl"
    res = run_cli(
        [
            "run",
            str(SAMPLES / "inventory.csv"),
            "--audit",
            str(audit),
            "--dry-run",
            "--log-format",
            "json",
        ],
        cli_env(sim),
        stdin=b"",
    )
    assert res.code == 0, res.stderr
    assert sim.stats()["deletes_received"] == 0
    counts = Counter(f["outcome"] for f in _finals(read_jsonl(audit)).values())
    assert counts == {"would_delete": 5, "protected": 12, "gone": 1}


def test_secret_on_command_line_is_refused(sim: SimHandle, tmp_path: Path) -> None:
    """--token VALUE is refused with exit 2 and a pointer to BULKDEL_TOKEN."""
    res = run_cli(
        [
            "run",
            str(SAMPLES / "inventory.csv"),
            "--audit",
            str(tmp_path / "a.jsonl"),
            "--token",
            "s3cr3t-value",
            "--yes",
        ],
        cli_env(sim),
    )
    assert res.code == 2
    assert "BULKDEL_TOKEN" in res.stderr
    assert "s3cr3t-value" not in res.stderr
    assert sim.stats()["requests_total"] == 0


def test_audit_file_is_private_and_complete(sim: SimHandle, tmp_path: Path) -> None:
    """The audit log is 0600, starts with run_started and ends with run_finished."""
    audit = tmp_path / "a.jsonl"
    res = run_cli(
        ["run", str(SAMPLES / "inventory.csv"), "--audit", str(audit), *FAST], cli_env(sim)
    )
    assert res.code == 0, res.stderr
    assert audit.stat().st_mode & 0o777 == 0o600
    records = read_jsonl(audit)
    assert records[0]["event"] == "run_started"
    assert records[-1]["event"] == "run_finished"
    assert records[-1]["exit_code"] == 0
    assert records[-1]["stop_reason"] == "completed"
    settings = records[0]["settings"]
    assert {"rate", "burst", "concurrency", "per_interface", "max_attempts"} <= set(settings)
    assert sim.token not in audit.read_text()
    assert sim.token not in res.stderr


def test_plan_prints_counts_and_protected(sim: SimHandle) -> None:
    """`bulkdel plan` shows counts by planned outcome and each protected peer's reason."""
    res = run_cli(
        ["plan", str(SAMPLES / "inventory.csv"), "--format", "json", "--log-format", "json"],
        cli_env(sim),
    )
    assert res.code == 0, res.stderr
    import json

    doc = json.loads(res.stdout)
    assert doc["counts"] == {"delete": 5, "protected": 12, "gone": 1}
    assert all("virtual interface" in p["reason"] for p in doc["protected"])
    assert sim.stats()["deletes_received"] == 0
