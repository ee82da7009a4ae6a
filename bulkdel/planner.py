"""The plan: decide, for every requested peer, whether to delete it (pure: no I/O, no clock).

Rules, in the order they apply to one requested peer:

1. Listed by live state → owned by that interface (an inventory `vif_id` that disagrees is
   noted; live state wins). A `skip` entry for a peer that live state still lists is ignored:
   the earlier run's "deleted"/"gone" is contradicted by the API, so the peer is planned again.
2. Not listed and in `skip` → `skipped` (the reason from `skip`); not listed → `gone`.
3. Of an interface whose every current peer is requested, one peer is kept (`protected`): the
   one whose address family is `keep` (ipv4 is the interface's original peer), ties and
   no-match → lowest ID. Everything else listed → `delete`, whatever its status (the API decides).

Decisions come in inventory order; one `invalid` decision per invalid row follows them, in the
order of `Inventory.invalid`. Everything is dict lookups: O(peers + requested).
"""

from __future__ import annotations

import gc
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping

from bulkdel.models import (
    Decision,
    Inventory,
    Keep,
    LiveState,
    PeerInfo,
    Plan,
    Planned,
    Requested,
    VifInfo,
)

GONE_REASON = "not listed by any virtual interface"

#: Per kind of note, at most this many name a peer; the rest are summed up in one note, because a
#: million-line note list helps nobody.
MAX_NOTES_PER_KIND = 100


def protected_reason(vif_id: str) -> str:
    """Why a kept peer is not deleted, and how to remove it anyway."""
    return (
        f"last peer of virtual interface {vif_id}: the API cannot delete an interface's last "
        "peer; delete the virtual interface itself to remove it"
    )


def state_digest(vifs: Iterable[VifInfo]) -> str:
    """A stable sha256 over the sorted lines `vif_id:peer_id,peer_id` (peer IDs sorted).

    Order-independent: the same interfaces and peers give the same digest however listed.
    """
    lines = sorted([f"{v.id}:{','.join(sorted([p.id for p in v.peers]))}\n" for v in vifs])
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def choose_kept(vif: VifInfo, keep: Keep) -> str:
    """The peer to keep when all of `vif`'s peers are requested: family `keep`, then lowest ID."""
    return _choose_kept(vif.peers, keep.value)


def _choose_kept(peers: tuple[PeerInfo, ...], wanted: str) -> str:
    matching = [p.id for p in peers if p.address_family.lower() == wanted]
    return min(matching or [p.id for p in peers])


class _Notes:
    """Collects notes of one kind, capped at MAX_NOTES_PER_KIND."""

    def __init__(self, summary: str) -> None:
        self.summary = summary
        self.items: list[str] = []
        self.dropped = 0

    def add(self, note: str) -> None:
        if len(self.items) < MAX_NOTES_PER_KIND:
            self.items.append(note)
        else:
            self.dropped += 1

    def render(self) -> list[str]:
        if self.dropped:
            return [*self.items, self.summary.format(n=self.dropped)]
        return self.items


def plan(
    inventory: Inventory,
    state: LiveState,
    *,
    keep: Keep = Keep.IPV4,
    skip: Mapping[str, str] | None = None,
) -> Plan:
    """Decide every requested peer against live state; never schedules an interface's last peer."""
    # A million peers allocate a million acyclic records; the cyclic GC would rescan the whole
    # heap over and over while they are built (measured: ~40% of the time). Restored on exit.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _plan(inventory, state, keep, skip or {})
    finally:
        if gc_was_enabled:
            gc.enable()


def _plan(inventory: Inventory, state: LiveState, keep: Keep, skip: Mapping[str, str]) -> Plan:
    mismatch = _Notes("... and {n} more peers whose inventory vif_id disagrees with live state")
    relisted = _Notes("... and {n} more peers recorded as done earlier are still listed")
    dup = _Notes("... and {n} more repeated peer IDs ignored")
    requested = _dedupe(inventory.requested, dup)

    # Bulk steps run in C (map, Counter): a million peers must plan in seconds.
    owner = state.owner_index()
    owners = list(map(owner.get, [r.peer_id for r in requested]))
    per_vif = Counter([v.id for v in owners if v is not None])

    # An interface whose every current peer is requested keeps one.
    wanted = keep.value
    kept: set[str] = set()
    for vif in state.vifs:
        n = per_vif.get(vif.id)
        if n is None:
            continue
        peers = vif.peers
        if len(peers) == 1:
            kept.add(peers[0].id)
        # A set, not len(peers): a listing that repeats a peer must not hide the last one.
        elif n >= len({p.id for p in peers}):
            kept.add(_choose_kept(peers, wanted))

    decisions: list[Decision] = []
    append = decisions.append
    for r, listed_by in zip(requested, owners, strict=True):
        pid = r.peer_id
        if listed_by is None:
            if pid in skip:
                append(Decision(pid, Planned.SKIPPED, r.vif_id, skip[pid]))
            else:
                append(Decision(pid, Planned.GONE, r.vif_id, GONE_REASON))
            continue
        vif_id = listed_by.id
        if pid in kept:
            append(Decision(pid, Planned.PROTECTED, vif_id, protected_reason(vif_id)))
        else:
            append(Decision(pid, Planned.DELETE, vif_id))
        if r.vif_id is not None and r.vif_id != vif_id:
            mismatch.add(
                f"peer {pid}: inventory says virtual interface {r.vif_id}, live state "
                f"lists it under {vif_id}; using {vif_id}"
            )
        if pid in skip:
            relisted.add(
                f"peer {pid}: an earlier run recorded it as {skip[pid]!r} but virtual "
                f"interface {vif_id} still lists it; planned again"
            )
    decisions.extend(
        Decision(row.raw, Planned.INVALID, None, row.reason) for row in inventory.invalid
    )
    return Plan(
        decisions=tuple(decisions),
        notes=(*mismatch.render(), *relisted.render(), *dup.render()),
        state_digest=state.digest,
    )


def _dedupe(requested: tuple[Requested, ...], notes: _Notes) -> tuple[Requested, ...]:
    """First occurrence of each peer ID (the inventory already collapses; this is a guard)."""
    if len({r.peer_id for r in requested}) == len(requested):
        return requested
    seen: set[str] = set()
    out: list[Requested] = []
    for r in requested:
        if r.peer_id in seen:
            notes.add(f"peer {r.peer_id} is requested more than once (line {r.line}); planned once")
        else:
            seen.add(r.peer_id)
            out.append(r)
    return tuple(out)
