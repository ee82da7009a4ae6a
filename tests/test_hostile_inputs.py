"""Hostile inputs at the CLI: bad inventories, tampered plan and audit files, file modes, secrets.

Every corpus file and every fuzzed inventory must end with exit 2, a message naming the file
(and line), no audit log and zero requests to the server. URL paths must only ever be built
from validated IDs. Files bulkdel writes are private (0600) and no output holds a secret.

The CLI runs in-process here (`bulkdel.cli.main`): 54 subprocesses would cost half a minute.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import string
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkdel.simulator import Fleet, SimConfig, SimHandle, run_in_thread

from .conftest import cli_env, main_exit_code, read_jsonl, simulator, use_env
from .test_inventory import BAD, CORPUS, PIECES, PROJECT

CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Not among the IDs the corpus and the fuzz pieces use: nothing fuzzed may match a real peer.
VIF = "c0ffee00-2d3a-4b6c-8d9e-0f1a2b3c4d5e"
V4 = "c0ffee01-0a13-4ac7-aa36-d018856ac640"
V6 = "c0ffee02-7b4d-4e8f-9a6b-1c2d3e4f5a6b"
JSON_LOGS = ["--log-format", "json"]


@pytest.fixture(scope="module")
def corpus_sim() -> Iterator[SimHandle]:
    """A simulator serving the corpus table's project (so project checks name the same line)."""
    fleet = Fleet.from_spec([(VIF, [(V4, "ipv4"), (V6, "ipv6")])], project_id=PROJECT)
    with run_in_thread(SimConfig(fleet=fleet)) as handle:
        yield handle


class InProcess:
    """Runs `bulkdel ARGS` in this process against a simulator; returns (code, stderr)."""

    def __init__(self, sim: SimHandle, mp: pytest.MonkeyPatch, capsys: Any) -> None:
        self.sim = sim
        self.mp = mp
        self.capsys = capsys
        self.sent = 0
        self.stdout = ""
        self.use_env(cli_env(sim))

    def use_env(self, env: dict[str, str]) -> None:
        """Replace the credential and endpoint variables with those in `env`."""
        use_env(self.mp, env)

    def __call__(self, args: list[str], stdin: bytes | None = None) -> tuple[int, str]:
        before = self.sim.stats()["requests_total"]
        self.capsys.readouterr()
        saved = sys.stdin
        if stdin is not None:
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
        try:
            code = main_exit_code(args)
        finally:
            sys.stdin = saved
        captured = self.capsys.readouterr()
        self.stdout = captured.out
        self.sent = self.sim.stats()["requests_total"] - before
        return code, captured.err


@pytest.fixture
def bulkdel(corpus_sim: SimHandle, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> InProcess:
    """The in-process CLI with the corpus simulator's credentials in the environment."""
    return InProcess(corpus_sim, monkeypatch, capsys)


@pytest.fixture
def inproc(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    """Make an in-process CLI for a given simulator."""

    def make(sim: SimHandle) -> InProcess:
        return InProcess(sim, monkeypatch, capsys)

    return make


def error_line(stderr: str) -> str:
    """The `bulkdel: error: ...` line."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("bulkdel: error: ")]
    assert len(lines) == 1, stderr
    return lines[0].removeprefix("bulkdel: error: ")


# --- the corpus -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "plan"])
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_exits_2_naming_where_and_sends_nothing(
    bulkdel: InProcess, tmp_path: Path, name: str, command: str
) -> None:
    """Each hostile inventory: exit 2, file (and line) and fix named, zero requests, no audit."""
    line, fragment = CORPUS[name]
    path = str(BAD / name)
    audit = tmp_path / "a.jsonl"
    args = [command, path, "--log-format", "json"]
    if command == "run":
        args += ["--audit", str(audit), "--yes"]
    code, err = bulkdel(args)
    assert code == 2, err
    message = error_line(err)
    if line is None:
        assert message.startswith((f"{path}: ", f"{path} (")), message
    else:
        assert message.startswith(f"{path}:{line}"), message
    assert fragment in message
    assert "Fix: " in message
    assert bulkdel.sent == 0
    assert not audit.exists()


def test_corpus_has_at_least_25_files() -> None:
    """The corpus the CLI is tested with is the one the issue asks for."""
    assert len(list(BAD.iterdir())) >= 25


def test_stdin_inventory_errors_name_stdin_and_line(bulkdel: InProcess, tmp_path: Path) -> None:
    """A bad inventory on stdin is named `<stdin>` with its line; nothing is sent."""
    data = f"vif_peer_id\n{V6}\n{V4}/../x\n".encode()
    code, err = bulkdel(["run", "-", "--audit", str(tmp_path / "a.jsonl"), "--yes"], stdin=data)
    assert code == 2
    assert error_line(err).startswith("<stdin>:3")
    assert bulkdel.sent == 0


# --- fuzzing the parsers through the CLI ---------------------------------------------------------

#: Characters that are not hex digits and do not change how a line splits into cells.
NOT_HEX = "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ./%_+~:{}()[]<>!?*&=@$^`|' \u0660\uff10\u0430é"
HEXISH = string.hexdigits + "-"
DASHES = (8, 13, 18, 23)


@st.composite
def bad_ids(draw: st.DrawFn) -> str:
    """A canonical UUID damaged so that it cannot be valid in any spelling."""
    good = str(draw(st.uuids()))
    kind = draw(st.sampled_from(["replace", "delete", "insert", "prefix", "dash"]))
    i = draw(st.integers(0, 35))
    if kind == "replace":
        if i in DASHES:
            i += 1
        return good[:i] + draw(st.sampled_from(NOT_HEX)) + good[i + 1 :]
    if kind == "delete":
        return good[:i] + good[i + 1 :]
    if kind == "insert":
        return good[:i] + draw(st.sampled_from(HEXISH + NOT_HEX)) + good[i:]
    if kind == "prefix":
        return draw(st.sampled_from(["../", "urn:uuid:", "%2e%2e/", "/", "{", "0x"])) + good
    d = draw(st.sampled_from(DASHES))
    return good[:d] + draw(st.sampled_from("_:/. +")) + good[d + 1 :]


@st.composite
def bad_inventories(draw: st.DrawFn) -> tuple[str, bytes, int]:
    """(suffix, content, line of the bad ID) in CSV, plain or JSON Lines form."""
    good = [str(u) for u in draw(st.lists(st.uuids(), min_size=0, max_size=5))]
    bad = draw(bad_ids())
    pos = draw(st.integers(0, len(good)))
    rows = [*good[:pos], bad, *good[pos:]]
    fmt = draw(st.sampled_from(["csv", "txt", "jsonl"]))
    if fmt == "csv":
        return ".csv", ("vif_peer_id\n" + "".join(f"{r}\n" for r in rows)).encode(), pos + 2
    if fmt == "jsonl":
        return ".jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode(), pos + 1
    return ".txt", "".join(f"{r}\n" for r in rows).encode(), pos + 1


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=bad_inventories())
def test_fuzzed_bad_inventory_exits_2_naming_the_line(
    bulkdel: InProcess, case: tuple[str, bytes, int]
) -> None:
    """One damaged ID among good ones: exit 2, the message names file and line, nothing sent."""
    suffix, content, line = case
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inv" + suffix)
        Path(path).write_bytes(content)
        audit = os.path.join(tmp, "a.jsonl")
        code, err = bulkdel(["run", path, "--audit", audit, "--yes", "--log-format", "json"])
        assert code == 2, err
        assert error_line(err).startswith(f"{path}:{line}"), (content, err)
        assert bulkdel.sent == 0
        assert not os.path.exists(audit)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    suffix=st.sampled_from([".csv", ".json", ".jsonl", ".txt", ".gz", ""]),
    data=st.binary(max_size=600)
    | st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=30).map(
        lambda parts: "".join(parts).encode("utf-8", "surrogatepass")
    ),
)
def test_fuzzed_inventory_bytes_never_reach_a_delete(
    bulkdel: InProcess, suffix: str, data: bytes
) -> None:
    """Arbitrary bytes: exit 2 naming the file with zero requests, or a run that deletes none."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inv" + suffix)
        Path(path).write_bytes(data)
        audit = os.path.join(tmp, "a.jsonl")
        before = bulkdel.sim.stats()["deletes_received"]
        code, err = bulkdel(["run", path, "--audit", audit, "--yes", "--log-format", "json"])
        assert bulkdel.sim.stats()["deletes_received"] == before
        if code == 2:
            assert error_line(err).startswith(path), err
            assert bulkdel.sent == 0
            assert not os.path.exists(audit)
        else:
            # Valid by chance: random UUIDs the fleet does not have, so all `gone`.
            assert code == 0, err
            assert {r["outcome"] for r in read_jsonl(Path(audit)) if r["event"] == "final"} <= {
                "gone",
                "protected",
            }


# --- URL paths only from validated IDs ---------------------------------------------------------


def _v6(sim: SimHandle) -> list[str]:
    return [
        p["id"]
        for v in sim.state.to_listing()["virtual_interfaces"]
        for p in v["vif_peers"]
        if p["address_family"] == "ipv6"
    ]


def test_delete_paths_use_only_canonical_ids(inproc: Any, tmp_path: Path) -> None:
    """Upper-case and padded IDs are canonicalised before any URL is built."""
    with simulator(interfaces=6, seed=12, two_peer_ratio=1.0) as sim:
        v6 = _v6(sim)
        inv = tmp_path / "inv.csv"
        spelled = [v6[0].upper(), f"  {v6[1]}  ", v6[2].upper(), *v6[3:]]
        inv.write_text("vif_peer_id\n" + "".join(f"{s}\n" for s in spelled))
        audit = tmp_path / "a.jsonl"
        code, err = inproc(sim)(["run", str(inv), "--audit", str(audit), "--yes", *JSON_LOGS])
        assert code == 0, err
        wire = [e["peer_id"] for e in sim.log()]
        assert sorted(wire) == sorted(v6)
        assert all(CANONICAL.fullmatch(p) for p in wire)
        stats = sim.stats()
        assert stats["requests_total"] == stats["list_requests"] + stats["deletes_received"]
        assert stats["unrouted"] == []


def _tampered_state(sim: SimHandle, hostile: str) -> dict[str, Any]:
    """The live listing with one extra, hostile peer ID on the first interface."""
    listing = sim.state.to_listing()
    vif = listing["virtual_interfaces"][0]
    vif["vif_peers"].append({**vif["vif_peers"][0], "id": hostile, "address_family": "ipv6"})
    return listing


HOSTILE_IDS = [
    "../virtual-interfaces/{vif}",  # DELETE .../dcaas/virtual-interfaces/{vif}: the interface!
    "{v4}/../../virtual-interfaces/{vif}",
    "{v4}?force=true",
    "{v4}#",
    "%2e%2e%2fvirtual-interfaces%2f{vif}",
]


def _nothing_sent(sim: SimHandle, hostile: str) -> None:
    stats = sim.stats()
    sent = f"sent for {hostile!r}: {stats['unrouted']} deletes={stats['deletes_received']}"
    assert stats["requests_total"] == 0, sent


@pytest.mark.parametrize("template", HOSTILE_IDS)
def test_tampered_plan_with_forged_hash_cannot_steer_a_delete(
    inproc: Any, tmp_path: Path, template: str
) -> None:
    """A plan whose hash was recomputed after inserting a non-UUID peer ID sends nothing."""
    with simulator(interfaces=3, seed=13, two_peer_ratio=0.0) as sim:
        cli = inproc(sim)
        first = sim.state.to_listing()["virtual_interfaces"][0]
        hostile = template.format(vif=first["id"], v4=first["vif_peers"][0]["id"])
        state = tmp_path / "state.json"
        state.write_text(json.dumps(_tampered_state(sim, hostile)))
        inv = tmp_path / "inv.txt"
        inv.write_text(first["vif_peers"][0]["id"] + "\n")
        plan = tmp_path / "plan.json"
        code, err = cli(["plan", str(inv), "--state", str(state), "--out", str(plan), *JSON_LOGS])
        assert code == 0, err
        doc = json.loads(plan.read_text())
        doc.pop("sha256")
        doc["decisions"] = [
            {"peer_id": hostile, "vif_id": first["id"], "planned": "delete", "reason": ""}
        ]
        doc["counts"] = {"delete": 1}
        canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        doc["sha256"] = hashlib.sha256(canonical.encode()).hexdigest()
        plan.write_text(json.dumps(doc))
        audit = tmp_path / "a.jsonl"
        code, err = cli(
            [
                "run",
                "--plan",
                str(plan),
                "--state",
                str(state),
                "--audit",
                str(audit),
                "--yes",
                *JSON_LOGS,
            ]
        )
        _nothing_sent(sim, hostile)
        assert code == 2, err
        assert str(plan) in error_line(err)


@pytest.mark.parametrize("template", HOSTILE_IDS[:2])
def test_tampered_audit_log_cannot_steer_a_replayed_delete(
    inproc: Any, tmp_path: Path, template: str
) -> None:
    """A forged `dispatch` with a non-UUID peer ID in the audit log is refused by replay."""
    with simulator(interfaces=3, seed=14, two_peer_ratio=0.0) as sim:
        first = sim.state.to_listing()["virtual_interfaces"][0]
        hostile = template.format(vif=first["id"], v4=first["vif_peers"][0]["id"])
        state = tmp_path / "state.json"
        state.write_text(json.dumps(_tampered_state(sim, hostile)))
        audit = tmp_path / "a.jsonl"
        forged = {
            "v": 1,
            "ts": "2026-12-03T01:02:03.456Z",
            "run": "20261203T010203Z-abcdef",
            "event": "dispatch",
            "peer_id": hostile,
            "vif_id": first["id"],
            "attempt": 1,
        }
        audit.write_text(json.dumps(forged) + "\n")
        code, err = inproc(sim)(["replay", str(audit), "--state", str(state), "--yes", *JSON_LOGS])
        _nothing_sent(sim, hostile)
        assert code == 2, err
        assert error_line(err).startswith(f"{audit}:1"), err  # names the forged line


# --- files and secrets -------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_written_files_are_0600_even_with_umask_0(tmp_path: Path) -> None:
    """Audit log, plan file and exported state are created 0600 whatever the umask."""
    with simulator(interfaces=4, seed=15, two_peer_ratio=1.0) as sim:
        inv = tmp_path / "inv.txt"
        inv.write_text("\n".join(sim.state.peer_ids()) + "\n")
        plan, audit, state = tmp_path / "plan.json", tmp_path / "a.jsonl", tmp_path / "s.json"
        # One child process with umask 0 runs the three commands in turn.
        script = (
            "import os, sys\n"
            "from bulkdel.cli import main\n"
            "os.umask(0)\n"
            "for args in sys.argv[1:]:\n"
            "    try:\n"
            "        main(args.split('\\x1f'))\n"
            "    except SystemExit as exc:\n"
            "        if exc.code:\n"
            "            raise\n"
        )
        commands = [
            ["plan", str(inv), "--out", str(plan)],
            ["run", str(inv), "--audit", str(audit), "--yes"],
            ["export", "--out", str(state)],
        ]
        argv = ["\x1f".join([*c, *JSON_LOGS]) for c in commands]
        proc = subprocess.run(
            [sys.executable, "-c", script, *argv],
            env=cli_env(sim),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        modes = {p.name: _mode(p) for p in (plan, audit, state)}
        assert modes == dict.fromkeys(("plan.json", "a.jsonl", "s.json"), 0o600)


def test_overwritten_plan_and_export_files_become_0600(inproc: Any, tmp_path: Path) -> None:
    """A plan or export written over an existing world-readable file ends up 0600."""
    with simulator(interfaces=4, seed=16) as sim:
        cli = inproc(sim)
        inv = tmp_path / "inv.txt"
        inv.write_text("\n".join(sim.state.peer_ids()) + "\n")
        plan, state = tmp_path / "plan.json", tmp_path / "s.json"
        for path in (plan, state):
            path.write_text("old\n")
            path.chmod(0o644)
        code, err = cli(["plan", str(inv), "--out", str(plan), *JSON_LOGS])
        assert code == 0, err
        code, err = cli(["export", "--out", str(state), *JSON_LOGS])
        assert code == 0, err
        assert (_mode(plan), _mode(state)) == (0o600, 0o600)


def test_world_readable_existing_audit_log_is_warned_about(inproc: Any, tmp_path: Path) -> None:
    """An existing audit log with a broad mode is kept as is, and the run says how to fix it."""
    with simulator(interfaces=4, seed=17) as sim:
        inv = tmp_path / "inv.txt"
        inv.write_text("\n".join(sim.state.peer_ids()) + "\n")
        audit = tmp_path / "a.jsonl"
        audit.touch()
        audit.chmod(0o644)
        code, err = inproc(sim)(["run", str(inv), "--audit", str(audit), "--yes", *JSON_LOGS])
        assert code == 0, err
        assert f"chmod 600 {audit}" in err


def _fragments(secret: str, width: int = 16) -> list[str]:
    """Overlapping pieces of a secret, so a truncated or sliced leak is found too."""
    if len(secret) <= width:
        return [secret]
    return [secret[i : i + width] for i in range(0, len(secret) - width + 1, width // 2)]


def _leaks(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    found = []
    for where, text in texts.items():
        for name, secret in secrets.items():
            if any(f in text for f in _fragments(secret)):
                found.append(f"{name} in {where}")
        if "MIIsimiam" in text:
            found.append(f"an IAM-issued token in {where}")
    return found


def test_no_secret_in_any_output(inproc: Any, tmp_path: Path) -> None:
    """Token, AK/SK and IAM password runs at debug level: no secret in any stream or file."""
    texts: dict[str, str] = {}
    debug = [*JSON_LOGS, "--log-level", "debug"]
    base = SimConfig(interfaces=6, seed=18, two_peer_ratio=1.0, token="MIIsecretTOKEN" + "q7" * 60)
    secrets = {"token": base.token, "sk": base.sk, "password": base.password}
    with run_in_thread(base.with_signer()) as sim:
        cli = inproc(sim)

        def scan(tag: str, args: list[str], *files: Path) -> None:
            code, err = cli([*args, *debug])
            assert code == 0, (tag, err)
            texts[f"{tag} stdout"], texts[f"{tag} stderr"] = cli.stdout, err
            for f in files:
                texts[f"{tag} {f.name}"] = f.read_text(errors="replace")

        ids = sim.state.peer_ids()
        invs = [tmp_path / f"inv{i}.txt" for i in range(3)]
        for i, inv in enumerate(invs):
            inv.write_text("\n".join(ids[4 * i : 4 * i + 4]) + "\n")
        plan, audit, state = tmp_path / "plan.json", tmp_path / "a.jsonl", tmp_path / "s.json"
        scan("plan", ["plan", str(invs[0]), "--out", str(plan)], plan)
        scan("run", ["run", "--plan", str(plan), "--audit", str(audit), "--yes"], audit)
        scan("replay", ["replay", str(audit), "--only", "deleted,gone", "--yes"], audit)
        scan("report", ["report", str(audit), "--format", "json"])
        scan("report-md", ["report", str(audit), "--format", "markdown"])
        scan("export", ["export", "--out", str(state)], state)
        scan("export-stdout", ["export"])
        env = cli_env(sim)
        del env["BULKDEL_TOKEN"]
        cli.use_env({**env, "HUAWEICLOUD_SDK_AK": sim.ak, "HUAWEICLOUD_SDK_SK": sim.sk})
        scan("aksk", ["run", str(invs[1]), "--audit", str(audit), "--yes"], audit)
        cli.use_env({**env, "BULKDEL_PASSWORD": sim.config.password})
        iam = ["--username", sim.config.username, "--domain", sim.config.domain]
        iam += ["--auth-url", sim.endpoint]
        scan("iam", ["run", str(invs[2]), "--audit", str(audit), "--yes", *iam], audit)
        assert sim.stats()["deletes_applied"] >= 4
    assert not _leaks(texts, secrets)
    assert {r["event"] for r in read_jsonl(audit)} >= {"dispatch", "response", "final"}
