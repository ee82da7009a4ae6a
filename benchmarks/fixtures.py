"""Inventories, saved listings and audit logs for the benchmarks, written as strings (fast).

IDs are canonical UUIDs built from a counter, so a million of them cost a second, and any
process (a baseline, the simulator, a wrk Lua script) can recompute the same ones.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

KIND_VIF = 1
KIND_V4 = 2  # the interface's original (IPv4) peer
KIND_V6 = 3  # the second (IPv6) peer: the one the benchmarks delete


def uid(salt: int, kind: int, index: int) -> str:
    """The canonical UUID for (salt, kind, index)."""
    return f"{salt:08x}-{kind:04x}-4000-8000-{index:012x}"


def new_project_id(rng: random.Random) -> str:
    """A 32-hex project ID."""
    return f"{rng.getrandbits(128):032x}"


@dataclass(frozen=True, slots=True)
class Slice:
    """A run of consecutive interfaces whose IPv6 peer one client deletes."""

    name: str
    start: int
    count: int

    def peer_ids(self, salt: int) -> list[str]:
        """The IDs this client deletes."""
        return [uid(salt, KIND_V6, i) for i in range(self.start, self.start + self.count)]


@dataclass(frozen=True, slots=True)
class Layout:
    """A fleet of two-peer interfaces carved into one slice per client."""

    salt: int
    project_id: str
    slices: Mapping[str, Slice]

    @property
    def interfaces(self) -> int:
        """How many interfaces the fleet has."""
        return sum(s.count for s in self.slices.values())

    def ids(self, name: str) -> list[str]:
        """The peer IDs of slice `name`."""
        return self.slices[name].peer_ids(self.salt)


def allocate(sizes: Mapping[str, int], rng: random.Random) -> Layout:
    """One slice of `sizes[name]` interfaces per client, back to back."""
    slices: dict[str, Slice] = {}
    start = 0
    for name, count in sizes.items():
        slices[name] = Slice(name, start, count)
        start += count
    return Layout(salt=rng.getrandbits(32), project_id=new_project_id(rng), slices=slices)


def _vif_json(salt: int, index: int, project_id: str, families: Sequence[int]) -> str:
    vif_id = uid(salt, KIND_VIF, index)
    peers = ",".join(
        f'{{"id":"{uid(salt, kind, index)}","vif_id":"{vif_id}","address_family":'
        f'"{"ipv4" if kind == KIND_V4 else "ipv6"}","status":"ACTIVE","tenant_id":"{project_id}"}}'
        for kind in families
    )
    return (
        f'{{"id":"{vif_id}","name":"vif-{index}","status":"ACTIVE","tenant_id":"{project_id}",'
        f'"vif_peers":[{peers}]}}'
    )


def write_state(path: Path, salt: int, project_id: str, interfaces: int) -> None:
    """A ListVirtualInterfaces JSON: every interface has an IPv4 and an IPv6 peer."""
    both = (KIND_V4, KIND_V6)
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"virtual_interfaces":[\n')
        chunk: list[str] = []
        for i in range(interfaces):
            chunk.append(_vif_json(salt, i, project_id, both))
            if len(chunk) >= 20_000:
                fh.write(",\n".join(chunk) + ("" if i == interfaces - 1 else ",\n"))
                chunk = []
        if chunk:
            fh.write(",\n".join(chunk))
        fh.write("\n]}\n")


def write_ids(path: Path, ids: Iterable[str], *, header: str | None = None) -> None:
    """One ID a line (a headerless inventory), optionally under a CSV header."""
    with path.open("w", encoding="utf-8") as fh:
        if header:
            fh.write(header + "\n")
        fh.writelines(f"{i}\n" for i in ids)


# --- the scale scenario ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScaleFiles:
    """A large inventory, its listing, and (optionally) the audit log of a run of it."""

    inventory: Path
    state: Path
    project_id: str
    peers: int
    interfaces: int
    bytes_inventory: int
    bytes_state: int


def write_scale(
    directory: Path, *, peers: int, interfaces: int, rng: random.Random
) -> tuple[ScaleFiles, int]:
    """`peers` requested over `interfaces` two-peer interfaces; returns the files and salt.

    The first `peers - interfaces` interfaces have both peers requested (the planner keeps the
    IPv4 one); the others have only their IPv6 peer requested.
    """
    if not interfaces <= peers <= 2 * interfaces:
        raise ValueError("need interfaces <= peers <= 2 * interfaces")
    salt = rng.getrandbits(32)
    project_id = new_project_id(rng)
    dual = peers - interfaces
    inventory = directory / "scale-inventory.csv"
    state = directory / "scale-state.json"
    with inventory.open("w", encoding="utf-8") as fh:
        fh.write("vif_peer_id\n")
        fh.writelines(f"{uid(salt, KIND_V4, i)}\n{uid(salt, KIND_V6, i)}\n" for i in range(dual))
        fh.writelines(f"{uid(salt, KIND_V6, i)}\n" for i in range(dual, interfaces))
    write_state(state, salt, project_id, interfaces)
    files = ScaleFiles(
        inventory=inventory,
        state=state,
        project_id=project_id,
        peers=peers,
        interfaces=interfaces,
        bytes_inventory=inventory.stat().st_size,
        bytes_state=state.stat().st_size,
    )
    return files, salt


_PEER = "@@PEER@@"
_VIF = "@@VIF@@"


def _template(record: Mapping[str, object]) -> str:
    from bulkdel import audit

    line = audit.encode(record).decode()
    line = line.replace("{", "{{").replace("}", "}}")
    return line.replace(_PEER, "{p}").replace(_VIF, "{v}")


@dataclass(frozen=True, slots=True)
class AuditShape:
    """What the synthetic audit log holds, by final outcome."""

    path: Path
    records: int
    counts: Mapping[str, int]
    size_bytes: int


def write_scale_audit(
    path: Path,
    files: ScaleFiles,
    salt: int,
    *,
    deferred_share: float = 0.1,
    failed_every: int = 200,
) -> AuditShape:
    """The audit log of a run of `files` that was cut by its window (built with bulkdel.audit).

    Kept peers are `protected`; of the deletions, one in `failed_every` failed (400), the last
    `deferred_share` were `deferred` (never sent), and the rest were `deleted` after one 204.
    """
    from bulkdel import audit
    from bulkdel.models import Action, Outcome, StopReason

    run = "20260101T000000Z-b3c4d5"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    mid = audit.format_ts(t0 + timedelta(minutes=30))
    dual = files.peers - files.interfaces
    deletions = files.interfaces  # one IPv6 peer per interface
    first_deferred = int(deletions * (1 - deferred_share))
    settings = {"rate": 250.0, "burst": 1, "concurrency": 16, "per_interface": 1}
    settings["max_attempts"] = 6
    started = audit.run_started(
        run,
        t0,
        version="bench",
        project_id=files.project_id,
        endpoint="https://dcaas.eu-de.otc.t-systems.com",
        inventory=str(files.inventory),
        inventory_sha256="0" * 64,
        settings=settings,
        planned={"delete": deletions, "protected": dual},
        resumed_from=None,
    )
    ids = {"peer_id": _PEER, "vif_id": _VIF}
    dispatch = _template(audit.dispatch(run, mid, attempt=1, **ids))
    answers = [
        _template(
            audit.response(
                run,
                mid,
                attempt=1,
                status=204,
                error_code=None,
                error_msg=None,
                request_id=f"{k:032x}",
                elapsed_ms=float(40 + 7 * k),
                action=Action.DONE,
                retry_in_s=None,
                **ids,
            )
        )
        for k in range(10)
    ]
    failed_response = _template(
        audit.response(
            run,
            mid,
            attempt=1,
            status=400,
            error_code="DC.0001",
            error_msg="Invalid parameter (synthetic)",
            request_id="f" * 32,
            elapsed_ms=55.0,
            action=Action.FAIL,
            retry_in_s=None,
            **ids,
        )
    )

    def final(outcome: Outcome, reason: str, attempts: int) -> str:
        rec = audit.final(run, mid, outcome=outcome, reason=reason, attempts=attempts, **ids)
        return _template(rec)

    deleted = final(Outcome.DELETED, "204", 1)
    failed = final(Outcome.FAILED, "400 DC.0001", 1)
    deferred = final(Outcome.DEFERRED, "window closed", 0)
    protected = final(
        Outcome.PROTECTED, "last peer of its virtual interface; delete the interface", 0
    )
    counts = {"deleted": 0, "failed": 0, "deferred": 0, "protected": dual}
    records = 2
    with path.open("w", encoding="utf-8") as fh:
        os.chmod(path, 0o600)
        fh.write(audit.encode(started).decode())
        chunk: list[str] = []
        for i in range(files.interfaces):
            vif = uid(salt, KIND_VIF, i)
            p6 = uid(salt, KIND_V6, i)
            if i < dual:
                chunk.append(protected.format(p=uid(salt, KIND_V4, i), v=vif))
            if i >= first_deferred:
                chunk.append(deferred.format(p=p6, v=vif))
                counts["deferred"] += 1
            elif i % failed_every == failed_every - 1:
                chunk.append(dispatch.format(p=p6, v=vif))
                chunk.append(failed_response.format(p=p6, v=vif))
                chunk.append(failed.format(p=p6, v=vif))
                counts["failed"] += 1
            else:
                chunk.append(dispatch.format(p=p6, v=vif))
                chunk.append(answers[i % 10].format(p=p6, v=vif))
                chunk.append(deleted.format(p=p6, v=vif))
                counts["deleted"] += 1
            if len(chunk) >= 30_000:
                records += len(chunk)
                fh.write("".join(chunk))
                chunk = []
        records += len(chunk)
        fh.write("".join(chunk))
        finished = audit.run_finished(
            run,
            t0 + timedelta(seconds=round(counts["deleted"] / 250.0, 3)),
            counts=counts,
            duration_s=round(counts["deleted"] / 250.0, 3),
            exit_code=3,
            stop_reason=StopReason.WINDOW_CLOSED,
        )
        fh.write(audit.encode(finished).decode())
    return AuditShape(path=path, records=records, counts=counts, size_bytes=path.stat().st_size)


def read_json_line(path: Path, *, last: bool) -> dict[str, object] | None:
    """The first or last complete JSON line of a file (cheap even for a large audit log)."""
    try:
        with path.open("rb") as fh:
            if not last:
                line = fh.readline()
            else:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 65536))
                lines = [ln for ln in fh.read().splitlines() if ln.strip()]
                line = lines[-1] if lines else b""
    except OSError:
        return None
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
