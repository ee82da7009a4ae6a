"""Tests for bulkdel.statechild: a --state file read by a child process reads as read_state_file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bulkdel import statechild
from bulkdel.errors import InputError
from bulkdel.state import describe_state_file, read_state_file
from bulkdel.statechild import StateChild


def _vif(n: int, *peers: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "name": f"vif-{n}",
        "status": "ACTIVE",
        "vif_peers": [
            {"id": pid, "address_family": "ipv6" if k else "IPv4", "status": "ACTIVE"}
            for k, pid in enumerate(peers)
        ],
        **extra,
    }


def _listing(tmp_path: Path, *vifs: dict[str, Any]) -> str:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"virtual_interfaces": list(vifs)}, indent=1))
    return str(path)


LISTING = (
    _vif(1, "a-1", "A-2"),
    _vif(2, "b-1"),
    _vif(3, "c-1", "c-2", "c-3"),
    _vif(4),
)


def _answered_by_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    def no(*args: object, **kwargs: object) -> None:
        raise AssertionError("read here, not by the child")

    monkeypatch.setattr(statechild, "read_state_file", no)


def test_read_is_read_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's answer is the interfaces listing a wanted peer, in file order, as built here."""
    path = _listing(tmp_path, *LISTING)
    wanted = frozenset({"a-2", "c-3", "b-1", "nowhere"})
    with monkeypatch.context() as patch:
        _answered_by_the_child(patch)
        with StateChild(path) as child:
            got = child.read(wanted)
    assert got == read_state_file(path, peers=wanted, digest=False)
    assert [v.id[-1] for v in got.vifs] == ["1", "2", "3"]
    assert got.vifs[0].peers[0].address_family == "ipv4"


def test_nothing_wanted_is_no_interface(tmp_path: Path) -> None:
    """No peers, no interfaces (the file is still read, so a broken one is still reported)."""
    with StateChild(_listing(tmp_path, *LISTING)) as child:
        assert child.read(frozenset()).vifs == ()


def test_a_peer_listed_twice_keeps_both_interfaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peer in two interfaces brings both back, as read_state_file has it."""
    path = _listing(tmp_path, _vif(1, "p-1"), _vif(2, "p-2"), _vif(3, "p-1"))
    with monkeypatch.context() as patch:
        _answered_by_the_child(patch)
        with StateChild(path) as child:
            got = child.read(frozenset({"p-1"}))
    assert got == read_state_file(path, peers=frozenset({"p-1"}), digest=False)
    assert len(got.vifs) == 2


def test_a_broken_listing_is_the_same_input_error(tmp_path: Path) -> None:
    """A listing that does not stream is read here: the error is read_state_file's own."""
    path = _listing(tmp_path, _vif(1, "p-1"), {"name": "no id"})
    with pytest.raises(InputError) as direct:
        read_state_file(path, peers=frozenset({"p-1"}), digest=False)
    with StateChild(path) as child, pytest.raises(InputError) as via_child:
        child.read(frozenset({"p-1"}))
    assert str(via_child.value) == str(direct.value)


def test_no_child_reads_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When no child can be started, the file is read in this process, with the same result."""
    monkeypatch.setattr(statechild, "_start", lambda path: None)
    path = _listing(tmp_path, *LISTING)
    with StateChild(path) as child:
        assert child.read(frozenset({"b-1"})) == read_state_file(
            path, peers=frozenset({"b-1"}), digest=False
        )


def test_a_dead_child_reads_here(tmp_path: Path) -> None:
    """A child that died (killed, out of memory) is replaced by a read here."""
    path = _listing(tmp_path, *LISTING)
    child = StateChild(path)
    proc = child._proc
    assert proc is not None
    proc.kill()
    proc.wait()
    assert child.read(frozenset({"c-1"})) == read_state_file(
        path, peers=frozenset({"c-1"}), digest=False
    )


def test_close_stops_the_child(tmp_path: Path) -> None:
    """Leaving the block without asking (an error elsewhere) stops the child."""
    with StateChild(_listing(tmp_path, *LISTING)) as child:
        proc = child._proc
        assert proc is not None
    assert proc.returncode is not None


def test_index_is_none_when_a_peer_is_listed_twice(tmp_path: Path) -> None:
    """The child's index says where each peer is listed, unless one is listed twice."""
    described = describe_state_file(_listing(tmp_path, _vif(1, "p-1"), _vif(2, "p-2", "p-3")))
    assert described is not None
    assert statechild._index(described) == {"p-1": 0, "p-2": 1, "p-3": 1}
    assert statechild._index([*described, described[0]]) is None


def test_one_cpu_starts_no_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one CPU the child would only compete with the fold: the file is read here."""
    monkeypatch.setattr(statechild, "_cpus", lambda: 1)
    path = _listing(tmp_path, *LISTING)
    with StateChild(path) as child:
        assert child._proc is None
        assert child.read(frozenset({"a-1"})) == read_state_file(
            path, peers=frozenset({"a-1"}), digest=False
        )


def test_answer_after_other_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked first and answered later, or answered unasked (no peers), as read_state_file."""
    path = _listing(tmp_path, *LISTING)
    with monkeypatch.context() as patch:
        _answered_by_the_child(patch)
        with StateChild(path) as child:
            child.ask(frozenset({"c-2"}))
            got = child.answer()
        with StateChild(path) as child:
            unasked = child.answer()
    assert got == read_state_file(path, peers=frozenset({"c-2"}), digest=False)
    assert unasked.vifs == ()
