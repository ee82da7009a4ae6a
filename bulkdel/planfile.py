"""Plan files: `bulkdel plan --out` writes one, `bulkdel run --plan` executes exactly it.

The file carries a sha256 over its canonical JSON body, so an edited plan is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bulkdel.errors import InputError
from bulkdel.ids import is_canonical_uuid
from bulkdel.models import Decision, Plan, Planned

PLAN_VERSION = 1


def _digest(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def encode_plan(plan: Plan, meta: Mapping[str, Any]) -> str:
    """The plan file's text: meta, decisions and the content hash (pure)."""
    body = {
        "plan_version": PLAN_VERSION,
        **meta,
        "state_digest": plan.state_digest,
        "counts": plan.counts(),
        "notes": list(plan.notes),
        "decisions": [
            {
                "peer_id": d.peer_id,
                "vif_id": d.vif_id,
                "planned": d.planned.value,
                "reason": d.reason,
            }
            for d in plan.decisions
        ],
    }
    # One key per line and one decision per line: readable, diffable, and written by the C
    # encoder (indent= would switch to the slow pure-Python one: 10 s for a million peers).
    head = {k: v for k, v in body.items() if k != "decisions"}
    head["sha256"] = _digest(body)
    lines = [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    rows = ",\n".join("  " + json.dumps(d, ensure_ascii=False) for d in body["decisions"])
    return "{\n" + "\n".join(lines) + '\n "decisions": [\n' + rows + "\n ]\n}\n"


@dataclass(frozen=True, slots=True)
class LoadedPlan:
    """A verified plan file."""

    plan: Plan
    meta: dict[str, Any]
    sha256: str


def decode_plan(text: str, source: str) -> LoadedPlan:
    """Parse and verify a plan file's text (pure)."""
    fix = "write a fresh one with `bulkdel plan INVENTORY --out PLAN`"
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError(f"plan file is not valid JSON ({exc})", file=source, fix=fix) from None
    if not isinstance(doc, dict) or doc.get("plan_version") != PLAN_VERSION:
        raise InputError("not a bulkdel plan file (plan_version 1)", file=source, fix=fix)
    claimed = doc.pop("sha256", None)
    if claimed != _digest(doc):
        raise InputError(
            "plan file was modified after it was written (sha256 mismatch); refusing to run it",
            file=source,
            fix=fix,
        )
    decisions = []
    for n, item in enumerate(doc.get("decisions") or []):
        try:
            decision = Decision(
                peer_id=item["peer_id"],
                planned=Planned(item["planned"]),
                vif_id=item.get("vif_id"),
                reason=item.get("reason", ""),
            )
        except (KeyError, TypeError, ValueError):
            raise InputError(
                "malformed decision", file=source, column=f"decisions[{n}]", fix=fix
            ) from None
        if decision.planned is not Planned.INVALID and not is_canonical_uuid(decision.peer_id):
            # A forged hash must not be able to steer a DELETE to another URL.
            raise InputError(
                f"peer ID {str(decision.peer_id)[:80]!r} is not a UUID",
                file=source,
                column=f"decisions[{n}].peer_id",
                fix=fix,
            )
        decisions.append(decision)
    meta = {k: v for k, v in doc.items() if k not in ("decisions", "counts", "notes")}
    plan = Plan(
        decisions=tuple(decisions),
        notes=tuple(doc.get("notes") or ()),
        state_digest=str(doc.get("state_digest", "")),
    )
    return LoadedPlan(plan=plan, meta=meta, sha256=str(claimed))


def write_plan(path: str, plan: Plan, meta: Mapping[str, Any]) -> str:
    """Write the plan file with mode 0600; returns its sha256."""
    text = encode_plan(plan, meta)
    write_private(path, text)
    return str(json.loads(text)["sha256"])


def write_private(path: str, text: str) -> None:
    """Write a file readable by its owner only, even when it existed with a wider mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode applies only to new files
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def read_plan(path: str) -> LoadedPlan:
    """Read and verify a plan file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputError(
            f"cannot read plan file: {exc.strerror}", file=path, fix="check the --plan path"
        ) from None
    return decode_plan(text, path)
