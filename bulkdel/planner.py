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

`PlanBuilder` applies the rules to interfaces fed one at a time, so a listing file never has to
be held whole (`bulkdel.state.plan_state_file`); `plan` feeds it a LiveState.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import cast

from bulkdel.gcpause import gc_paused
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

_PEER_ID = attrgetter("peer_id")
_MISMATCH = "... and {n} more peers whose inventory vif_id disagrees with live state"
_RELISTED = "... and {n} more peers recorded as done earlier are still listed"
_REPEATED = "... and {n} more repeated peer IDs ignored"


def protected_reason(vif_id: str) -> str:
    """Why a kept peer is not deleted, and how to remove it anyway."""
    return (
        f"last peer of virtual interface {vif_id}: the API cannot delete an interface's last "
        "peer; delete the virtual interface itself to remove it"
    )


def _digest_line(vif_id: str, peer_ids: list[str]) -> str:
    return f"{vif_id}:{','.join(sorted(peer_ids))}\n"


def _sha256(lines: Iterable[str]) -> str:
    sha = hashlib.sha256()
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == 4096:
            sha.update("".join(batch).encode("utf-8", "surrogatepass"))
            batch = []
    sha.update("".join(batch).encode("utf-8", "surrogatepass"))
    return sha.hexdigest()


def state_digest(vifs: Iterable[VifInfo]) -> str:
    """A stable sha256 over the sorted lines `vif_id:peer_id,peer_id` (peer IDs sorted).

    Order-independent: the same interfaces and peers give the same digest however listed.
    """
    return _sha256(sorted([_digest_line(v.id, [p.id for p in v.peers]) for v in vifs]))


class StateDigest:
    """`state_digest`, computed while interfaces stream by.

    The API lists interfaces by ascending ID, so their lines usually arrive sorted: they are
    hashed as they come and nothing is held. Lines out of order cannot be hashed that way:
    `hexdigest()` is then None, and the caller takes a second pass with `in_order=False`,
    which holds every line and sorts them at the end.
    """

    def __init__(self, *, in_order: bool = True) -> None:
        self._sha = hashlib.sha256()
        self._lines: list[str] = []
        self._last = ""
        self._streaming = in_order
        self.in_order = True

    def add(self, vif_id: str, peer_ids: list[str]) -> None:
        """Account for one listed interface."""
        line = _digest_line(vif_id, peer_ids)
        if self._streaming:
            if not self.in_order:
                return
            if line < self._last:
                self.in_order = False
                self._lines = []
                return
            self._last = line
            if len(self._lines) == 4096:
                self._sha.update("".join(self._lines).encode("utf-8", "surrogatepass"))
                self._lines = []
        self._lines.append(line)

    def hexdigest(self) -> str | None:
        """The digest of every interface added; None when streamed lines came out of order."""
        if not self._streaming:
            return _sha256(sorted(self._lines))
        if not self.in_order:
            return None
        sha = self._sha.copy()
        sha.update("".join(self._lines).encode("utf-8", "surrogatepass"))
        return sha.hexdigest()


def choose_kept(vif: VifInfo, keep: Keep) -> str:
    """The peer to keep when all of `vif`'s peers are requested: family `keep`, then lowest ID."""
    return _choose_kept(vif.peers, keep.value)


def _choose_kept(peers: tuple[PeerInfo, ...], wanted: str) -> str:
    return _kept_id([p.id for p in peers], [p.address_family for p in peers], wanted)


def _kept_id(peer_ids: Sequence[str], families: Sequence[str], wanted: str) -> str:
    matching = [p for p, f in zip(peer_ids, families, strict=True) if f.lower() == wanted]
    return min(matching or peer_ids)


def _mismatch_note(peer_id: str, claimed: str, vif_id: str) -> str:
    return (
        f"peer {peer_id}: inventory says virtual interface {claimed}, live state lists it "
        f"under {vif_id}; using {vif_id}"
    )


def _relisted_note(peer_id: str, recorded: str, vif_id: str) -> str:
    return (
        f"peer {peer_id}: an earlier run recorded it as {recorded!r} but virtual interface "
        f"{vif_id} still lists it; planned again"
    )


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


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """What `bulkdel plan` shows, without a Decision per peer: counts, protected peers, notes."""

    counts: Mapping[str, int]  # as Plan.counts(): by planned outcome, in order of appearance
    protected: tuple[Decision, ...]  # in inventory order; only the first ones when capped
    notes: tuple[str, ...] = ()
    state_digest: str = ""


def summarize(plan: Plan, *, protected_limit: int | None = None) -> PlanSummary:
    """The summary of a whole plan (pure)."""
    protected = [d for d in plan.decisions if d.planned is Planned.PROTECTED]
    return PlanSummary(
        counts=plan.counts(),
        protected=tuple(protected[:protected_limit]),
        notes=plan.notes,
        state_digest=plan.state_digest,
    )


class PlanBuilder:
    """Applies the rules to interfaces fed one at a time, in listing order (pure).

    Per requested peer it keeps only its owner's ID and whether it is kept, so the listing
    itself is never held. A listing that cannot be decided interface by interface (a requested
    peer listed twice, or one interface ID listed twice with requested peers) makes `add`
    return False: `plan` over the whole LiveState decides those.
    """

    def __init__(
        self, inventory: Inventory, *, keep: Keep = Keep.IPV4, skip: Mapping[str, str] | None = None
    ) -> None:
        self._invalid = inventory.invalid
        self._skip = skip or {}
        self._wanted = keep.value
        self._mismatch, self._relisted, self._dup = (
            _Notes(_MISMATCH),
            _Notes(_RELISTED),
            _Notes(_REPEATED),
        )
        requested = inventory.requested
        index = dict(zip(map(_PEER_ID, requested), range(len(requested)), strict=True))
        if len(index) != len(requested):
            requested = _dedupe(requested, self._dup)
            index = dict(zip(map(_PEER_ID, requested), range(len(requested)), strict=True))
        self._requested = requested
        self._index = index
        self._owners: list[str | None] = [None] * len(requested)
        self._kept = bytearray(len(requested))
        self._last_owner = ""  # while owning interfaces arrive by ascending ID (the API's order)
        self._owning: set[str] | None = None  # once they do not: every owning interface ID
        self.refused = False

    def add(self, vif_id: str, peer_ids: Sequence[str], families: Sequence[str]) -> bool:
        """Account for one listed interface: its ID, and its peers' IDs and address families.

        Families are compared lowercase, as listed. False (for this and every later call) when
        the listing needs `plan` over the whole LiveState instead.
        """
        if self.refused:
            return False
        looked = list(map(self._index.get, peer_ids))
        every = None not in looked  # each listed entry (repeats too) is requested
        found = cast("list[int]", looked) if every else [p for p in looked if p is not None]
        if not found:
            return True
        if len(found) > 1 and len(set(found)) < len(found):
            found = list(dict.fromkeys(found))  # a listing that repeats a peer
        if self._owning is None and vif_id > self._last_owner:
            self._last_owner = vif_id
        elif not self._first_owning(vif_id):
            self.refused = True
            return False
        owners = self._owners
        for pos in found:
            if owners[pos] is not None:
                self.refused = True
                return False
            owners[pos] = vif_id
        if every:
            if len(found) == 1:
                self._kept[found[0]] = 1
            else:
                wanted = self._wanted
                matching = [p for p, f in zip(peer_ids, families, strict=True) if f == wanted]
                self._kept[self._index[min(matching or peer_ids)]] = 1
        return True

    def _first_owning(self, vif_id: str) -> bool:
        """False when an interface with this ID already owns requested peers."""
        if self._owning is None:  # interface IDs stopped ascending: check them from now on
            self._owning = {o for o in self._owners if o is not None}
        if vif_id in self._owning:
            return False
        self._owning.add(vif_id)
        return True

    def _verdicts(self) -> Iterator[tuple[str, Planned, str | None, str]]:
        """(peer ID, planned, interface ID, reason) per requested peer, then per invalid row.

        Call once, after the last `add`; notes are complete when it is exhausted.
        """
        self._index = {}  # not needed any more: free it before decisions are built
        skip = self._skip
        delete, protected = Planned.DELETE, Planned.PROTECTED
        for r, vif_id, kept in zip(self._requested, self._owners, self._kept, strict=True):
            pid = r.peer_id
            if vif_id is None:
                if pid in skip:
                    yield pid, Planned.SKIPPED, r.vif_id, skip[pid]
                else:
                    yield pid, Planned.GONE, r.vif_id, GONE_REASON
                continue
            if kept:
                yield pid, protected, vif_id, protected_reason(vif_id)
            else:
                yield pid, delete, vif_id, ""
            if r.vif_id is not None and r.vif_id != vif_id:
                self._mismatch.add(_mismatch_note(pid, r.vif_id, vif_id))
            if pid in skip:
                self._relisted.add(_relisted_note(pid, skip[pid], vif_id))
        for row in self._invalid:
            yield row.raw, Planned.INVALID, None, row.reason

    def notes(self) -> tuple[str, ...]:
        """Planner notes, complete once the decisions were made."""
        return (*self._mismatch.render(), *self._relisted.render(), *self._dup.render())

    def plan(self, digest: str = "") -> Plan:
        """Every decision (call once, after the last `add`)."""
        decisions = tuple([Decision(*verdict) for verdict in self._verdicts()])
        return Plan(decisions=decisions, notes=self.notes(), state_digest=digest)

    def summary(self, digest: str = "", *, protected_limit: int | None = None) -> PlanSummary:
        """Counts and protected peers without a Decision per peer (call once, after `add`)."""
        counts: dict[Planned, int] = {}
        protected: list[Decision] = []
        room = protected_limit if protected_limit is not None else -1
        for verdict in self._verdicts():
            planned = verdict[1]
            counts[planned] = counts.get(planned, 0) + 1
            if planned is Planned.PROTECTED and room:
                protected.append(Decision(*verdict))
                room -= 1
        return PlanSummary(
            counts={p.value: n for p, n in counts.items()},
            protected=tuple(protected),
            notes=self.notes(),
            state_digest=digest,
        )


def plan(
    inventory: Inventory,
    state: LiveState,
    *,
    keep: Keep = Keep.IPV4,
    skip: Mapping[str, str] | None = None,
) -> Plan:
    """Decide every requested peer against live state; never schedules an interface's last peer."""
    with gc_paused():
        builder = PlanBuilder(inventory, keep=keep, skip=skip)
        for vif in state.vifs:
            peers = vif.peers
            families = [p.address_family.lower() for p in peers]
            if not builder.add(vif.id, [p.id for p in peers], families):
                return _plan_whole(inventory, state, keep, skip or {})
        return builder.plan(state.digest)


def _plan_whole(
    inventory: Inventory, state: LiveState, keep: Keep, skip: Mapping[str, str]
) -> Plan:
    """The rules over the whole listing at once: what PlanBuilder refuses (repeated listings)."""
    mismatch, relisted, dup = _Notes(_MISMATCH), _Notes(_RELISTED), _Notes(_REPEATED)
    requested = _dedupe(inventory.requested, dup)

    # A peer listed twice belongs to the last interface listing it.
    owner = state.owner_index()
    owners = list(map(owner.get, [r.peer_id for r in requested]))
    per_vif: dict[str, int] = {}
    for v in owners:
        if v is not None:
            per_vif[v.id] = per_vif.get(v.id, 0) + 1

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
            mismatch.add(_mismatch_note(pid, r.vif_id, vif_id))
        if pid in skip:
            relisted.add(_relisted_note(pid, skip[pid], vif_id))
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
    if len(set(map(_PEER_ID, requested))) == len(requested):
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
