"""Chaos: seeded mixes of 5xx, resets, stalls, 429 bursts and applied-then-500 against the CLI.

Each run is the real CLI in a subprocess against the simulator. After each run the invariants
that make bulkdel safe are checked against both the audit log and the simulator's own log:
no interface without a peer, exactly one `final` per requested peer, every DELETE on the wire
announced by a `dispatch` and answered by a `response`, no peer answered 204 twice, and every
outcome agrees with what the server actually did.

`make test` runs a couple of seeds; `--chaos-runs N --chaos-seed S` runs more
(tests/chaos_plugin.py).
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bulkdel.simulator import SimHandle

from .chaos_plugin import chaos_runs, chaos_seed
from .conftest import cli_env, read_jsonl, run_cli, simulator, write_ipv6_inventory

SUCCESS = frozenset({"deleted", "gone", "protected"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per chaos seed: `--chaos-seed S` .. S + `--chaos-runs N` - 1."""
    if "chaos_seed_value" in metafunc.fixturenames:
        first, n = chaos_seed(metafunc.config), chaos_runs(metafunc.config)
        metafunc.parametrize("chaos_seed_value", range(first, first + n), ids=lambda s: f"seed{s}")


# --- reading the evidence ----------------------------------------------------------------------


@dataclass
class PeerTrail:
    """Everything the audit log and the simulator say about one peer."""

    dispatches: int = 0
    responses: list[dict[str, Any]] = field(default_factory=list)
    finals: list[dict[str, Any]] = field(default_factory=list)
    wire: list[dict[str, Any]] = field(default_factory=list)  # the simulator's DELETE log


def trails(
    records: Iterable[Mapping[str, Any]], sim_log: Iterable[Mapping[str, Any]]
) -> dict[str, PeerTrail]:
    """Group audit records and simulator log entries by peer."""
    out: dict[str, PeerTrail] = defaultdict(PeerTrail)
    for r in records:
        if r["event"] == "dispatch":
            out[r["peer_id"]].dispatches += 1
        elif r["event"] == "response":
            out[r["peer_id"]].responses.append(dict(r))
        elif r["event"] == "final":
            out[r["peer_id"]].finals.append(dict(r))
    for e in sim_log:
        out[e["peer_id"]].wire.append(dict(e))
    return dict(out)


def wait_until_quiet(sim: SimHandle, timeout_s: float = 10.0) -> None:
    """Wait until the simulator has answered every DELETE (stalled ones finish late)."""
    deadline = time.monotonic() + timeout_s
    while sim.stats()["in_flight"]:
        assert time.monotonic() < deadline, "the simulator still has DELETEs in flight"
        time.sleep(0.05)


def assert_every_interface_keeps_a_peer(sim: SimHandle) -> None:
    """No interface ever lost its last peer."""
    empty = [v["id"] for v in sim.state.to_listing()["virtual_interfaces"] if not v["vif_peers"]]
    assert not empty, f"interfaces left without a peer: {empty}"


def assert_wire_matches_audit(by_peer: Mapping[str, PeerTrail], *, complete: bool) -> None:
    """Every DELETE on the wire had a dispatch (and, for a finished run, a response)."""
    for peer, t in by_peer.items():
        assert len(t.wire) <= t.dispatches, f"{peer}: a DELETE left without its dispatch record"
        if complete:
            assert len(t.responses) == t.dispatches, f"{peer}: a dispatch has no response"
        answered = Counter(e["status"] for e in t.wire if e["status"] is not None)
        recorded = Counter(r["status"] for r in t.responses if r["status"] is not None)
        assert recorded <= answered, f"{peer}: audit records answers the server never gave"
        assert answered[204] <= 1, f"{peer}: the server answered 204 twice"
        assert sum(1 for e in t.wire if e["applied"]) <= 1


def assert_outcomes_match_server(
    by_peer: Mapping[str, PeerTrail], fleet_peers: set[str], remaining: set[str]
) -> None:
    """Each latest outcome agrees with the server: deleted had its 204, gone was removed."""
    for peer, t in by_peer.items():
        if not t.finals:
            continue
        outcome = t.finals[-1]["outcome"]
        if outcome == "deleted":
            assert any(r["status"] == 204 for r in t.responses), f"{peer}: deleted without 204"
            assert peer not in remaining
        elif outcome == "gone":
            assert peer not in remaining, f"{peer}: recorded gone but still listed"
        elif outcome == "protected":
            assert peer in remaining, f"{peer}: protected but removed"
        if peer in fleet_peers and peer not in remaining:
            assert any(e["applied"] for e in t.wire), f"{peer}: removed, but not by bulkdel"
        seen_204 = any(r["status"] == 204 for r in t.responses)
        if any(e["applied"] for e in t.wire) and not seen_204:
            # Applied but the client never saw the 204 (applied-500, stall past the timeout):
            # the retry must have found it gone, never "failed" and never a second delete.
            assert outcome == "gone", f"{peer}: applied without a 204 seen, ended {outcome}"


def check_completed_run(
    sim: SimHandle, records: list[dict[str, Any]], requested: list[str], fleet_peers: set[str]
) -> dict[str, PeerTrail]:
    """All chaos invariants for one run that ended on its own terms."""
    wait_until_quiet(sim)
    assert_every_interface_keeps_a_peer(sim)
    by_peer = trails(records, sim.log())
    finals = Counter(r["peer_id"] for r in records if r["event"] == "final")
    assert set(finals) == set(requested), "a requested peer has no final (or a stranger has one)"
    assert max(finals.values()) == 1, "a peer has two finals in one run"
    assert_wire_matches_audit(by_peer, complete=True)
    remaining = set(sim.state.peer_ids())
    assert_outcomes_match_server(by_peer, fleet_peers, remaining)
    removed = fleet_peers - remaining
    ended_removed = {
        p for p, t in by_peer.items() if t.finals and t.finals[-1]["outcome"] in {"deleted", "gone"}
    }
    assert removed <= ended_removed, "the server lost peers the audit does not account for"
    return by_peer


# --- scenarios ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One seeded chaos run: simulator settings and client options."""

    seed: int
    sim: dict[str, Any]
    client: list[str]


def make_scenario(seed: int) -> Scenario:
    """Draw a fault mix, throttling, latency and client settings from `seed`."""
    rng = random.Random(f"bulkdel-chaos:{seed}")
    weights = {k: rng.uniform(0.5, 1.5) for k in ("5xx", "reset", "stall", "applied_500")}
    start = rng.uniform(0.0, 0.2)
    sim = {
        "interfaces": rng.randint(14, 20),
        "seed": seed,
        "two_peer_ratio": rng.uniform(0.85, 1.0),
        "fault_rate": rng.uniform(0.25, 0.35),
        "fault_mix": weights,
        "stall_s": 1.3,  # past the client's --timeout 1s
        "latency_ms": rng.uniform(0, 15),
        "jitter_ms": rng.uniform(0, 15),
        "rate_limit": rng.choice([12, 16, 20]),
        "throttle_windows": ((start, start + rng.uniform(0.3, 0.7)),),
    }
    client = [
        "--rate",
        str(rng.choice([40, 60])),
        "--burst",
        str(rng.randint(1, 4)),
        "--concurrency",
        str(rng.randint(3, 8)),
        "--per-interface",
        str(rng.choice([1, 2])),
        "--max-attempts",
        "14",
        "--timeout",
        "1s",
        "--fsync",
        rng.choice(["always", "batch", "never"]),
    ]
    return Scenario(seed, sim, client)


def write_inventory(path: Path, sim: SimHandle, seed: int) -> list[str]:
    """Every peer of the fleet (so protection matters), two unknown IDs and one repeat."""
    rng = random.Random(seed)
    ids = sim.state.peer_ids()
    unknown = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2)]
    rows = [*ids, *unknown, ids[0].upper()]  # the repeat, upper-cased: collapsed, not re-sent
    rng.shuffle(rows)
    path.write_text("vif_peer_id\n" + "".join(f"{r}\n" for r in rows))
    return [*ids, *unknown]


def test_chaos_run_keeps_every_invariant(tmp_path: Path, chaos_seed_value: int) -> None:
    """A seeded storm of faults and 429 bursts ends with every peer accounted for, safely."""
    sc = make_scenario(chaos_seed_value)
    with simulator(**sc.sim) as sim:
        fleet_peers = set(sim.state.peer_ids())
        inv = tmp_path / "inv.csv"
        requested = write_inventory(inv, sim, sc.seed)
        audit = tmp_path / "a.jsonl"
        args = ["run", str(inv), "--audit", str(audit), "--log-format", "json", "--yes"]
        res = run_cli([*args, *sc.client], cli_env(sim), timeout=90)
        context = f"seed {sc.seed} ({sc.sim}, {sc.client}): {res.stderr[-2000:]}"
        assert res.code == 0, context
        records = read_jsonl(audit)
        by_peer = check_completed_run(sim, records, requested, fleet_peers)
        outcomes = Counter(t.finals[-1]["outcome"] for t in by_peer.values() if t.finals)
        assert set(outcomes) <= SUCCESS, context
        assert records[-1]["event"] == "run_finished"
        assert records[-1]["counts"] == dict(outcomes)
        # The throttle window always catches the first burst; faults are drawn at random, so
        # a rare seed may draw none (tests/test_sim_faults.py proves that injection works).
        assert sim.stats()["throttled"] > 0, "no 429 burst happened: the scenario tested nothing"


def test_applied_then_500_ends_gone_after_the_retry_sees_dc0002(tmp_path: Path) -> None:
    """A DELETE applied but answered 500 is retried once, sees DC.0002 and is recorded gone."""
    with simulator(
        interfaces=24,
        seed=4,
        two_peer_ratio=1.0,
        fault_rate=0.3,
        fault_mix={"applied_500": 1.0},
    ) as sim:
        fleet_peers = set(sim.state.peer_ids())
        inv = tmp_path / "v6.txt"
        v6 = write_ipv6_inventory(sim, inv)
        audit = tmp_path / "a.jsonl"
        fast = ["--rate", "100", "--burst", "5", "--max-attempts", "12"]
        args = ["run", str(inv), "--audit", str(audit), "--log-format", "json", "--yes", *fast]
        res = run_cli(args, cli_env(sim))
        assert res.code == 0, res.stderr
        records = read_jsonl(audit)
        by_peer = check_completed_run(sim, records, v6, fleet_peers)
        nasty = [p for p, t in by_peer.items() if any(e["status"] == 500 for e in t.wire)]
        assert nasty, "no applied-500 fault was injected"
        for peer in nasty:
            t = by_peer[peer]
            seen = [(r["status"], r["error_code"], r["action"]) for r in t.responses]
            # The retry may draw another fault (a 500 that changes nothing) before DC.0002.
            assert seen[-1] == (400, "DC.0002", "done"), (peer, seen)
            assert all(s == (500, "DC.0003", "retry") for s in seen[:-1]), (peer, seen)
            assert len(seen) >= 2
            assert t.finals[-1]["outcome"] == "gone"
            assert t.finals[-1]["attempts"] == len(seen)
        assert not set(v6) & set(sim.state.peer_ids())
