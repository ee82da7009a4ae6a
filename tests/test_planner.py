"""Tests for bulkdel.planner: grouping, gone/skipped peers, last-peer protection, digest."""

from __future__ import annotations

import uuid
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdel.models import (
    Decision,
    InvalidRow,
    Inventory,
    Keep,
    LiveState,
    PeerInfo,
    Plan,
    Planned,
    Requested,
    VifInfo,
)
from bulkdel.planner import (
    GONE_REASON,
    MAX_NOTES_PER_KIND,
    PlanBuilder,
    StateDigest,
    _plan_whole,
    choose_kept,
    plan,
    protected_reason,
    state_digest,
    summarize,
)


def uid(n: int) -> str:
    """A deterministic canonical UUID for small test fleets."""
    return str(uuid.UUID(int=n))


def vif(vif_id: str, *peers: tuple[str, str]) -> VifInfo:
    """An interface with (peer_id, family) peers."""
    return VifInfo(vif_id, tuple(PeerInfo(p, vif_id, fam) for p, fam in peers))


def state_of(*vifs: VifInfo) -> LiveState:
    """A LiveState with its digest."""
    return LiveState(tuple(vifs), state_digest(vifs))


def inv(*ids: str | tuple[str, str], invalid: tuple[InvalidRow, ...] = ()) -> Inventory:
    """An inventory of peer IDs (or (peer_id, vif_id) claims), in order."""
    reqs = []
    for n, item in enumerate(ids, start=1):
        if isinstance(item, tuple):
            reqs.append(Requested(item[0], n, item[1]))
        else:
            reqs.append(Requested(item, n))
    return Inventory("inv.csv", "0" * 64, tuple(reqs), invalid)


def by_peer(p: Plan) -> dict[str, Decision]:
    """Decisions keyed by peer ID."""
    return {d.peer_id: d for d in p.decisions}


V1, V2 = "v1", "v2"
A, B, C, D = "a4", "b6", "c4", "d6"


def test_partial_request_deletes_without_protection() -> None:
    """Requesting one of two peers deletes it: the other peer keeps the interface alive."""
    p = plan(inv(B), state_of(vif(V1, (A, "ipv4"), (B, "ipv6"))))
    assert p.decisions == (Decision(B, Planned.DELETE, V1, ""),)


def test_all_requested_keeps_ipv4_peer() -> None:
    """When both peers are requested the IPv4 one is protected and the reason names the VIF."""
    p = plan(inv(B, A), state_of(vif(V1, (A, "ipv4"), (B, "ipv6"))))
    d = by_peer(p)
    assert d[B].planned is Planned.DELETE
    assert d[A].planned is Planned.PROTECTED
    assert d[A].vif_id == V1
    assert d[A].reason == (
        "last peer of virtual interface v1: the API cannot delete an interface's last peer; "
        "delete the virtual interface itself to remove it"
    )
    assert [x.peer_id for x in p.decisions] == [B, A]  # inventory order


def test_keep_ipv6_prefers_ipv6_peer() -> None:
    """--keep ipv6 protects the IPv6 peer instead."""
    p = plan(inv(A, B), state_of(vif(V1, (A, "ipv4"), (B, "ipv6"))), keep=Keep.IPV6)
    assert by_peer(p)[B].planned is Planned.PROTECTED
    assert by_peer(p)[A].planned is Planned.DELETE


def test_keep_ties_go_to_lowest_id() -> None:
    """Two peers of the kept family: the lowest ID (string order) is protected."""
    p = plan(inv("z", "m"), state_of(vif(V1, ("z", "ipv4"), ("m", "ipv4"))))
    assert by_peer(p)["m"].planned is Planned.PROTECTED
    assert by_peer(p)["z"].planned is Planned.DELETE


def test_keep_without_matching_family_falls_back_to_lowest_id() -> None:
    """If no peer has the kept family, the lowest ID is protected anyway."""
    v = vif(V1, ("q", "ipv6"), ("p", "ipv6"))
    assert choose_kept(v, Keep.IPV4) == "p"


def test_family_match_is_case_insensitive() -> None:
    """A listing that spells `IPv4` still keeps that peer."""
    v = vif(V1, ("a", "IPv6"), ("b", "IPv4"))
    assert choose_kept(v, Keep.IPV4) == "b"


def test_single_peer_interface_is_protected() -> None:
    """An interface with one peer never loses it."""
    p = plan(inv(A), state_of(vif(V1, (A, "ipv4"))))
    assert p.decisions == (Decision(A, Planned.PROTECTED, V1, protected_reason(V1)),)


def test_absent_peer_is_gone() -> None:
    """A peer no interface lists is gone, with the documented reason."""
    p = plan(inv(C), state_of(vif(V1, (A, "ipv4"))))
    assert p.decisions == (Decision(C, Planned.GONE, None, GONE_REASON),)


def test_absent_peer_keeps_inventory_vif_claim() -> None:
    """A gone peer carries the inventory's vif_id, the only one known."""
    p = plan(inv((C, V2)), state_of(vif(V1, (A, "ipv4"))))
    assert p.decisions[0].vif_id == V2


def test_skipped_when_live_state_agrees() -> None:
    """A resumed peer that is no longer listed is skipped with the given reason."""
    p = plan(inv(C, A, B), state_of(vif(V1, (A, "ipv4"), (B, "ipv6"))), skip={C: "deleted in r1"})
    assert by_peer(p)[C] == Decision(C, Planned.SKIPPED, None, "deleted in r1")


def test_skip_ignored_when_still_listed() -> None:
    """A resumed peer that live state still lists is planned again, with a note."""
    p = plan(inv(B), state_of(vif(V1, (A, "ipv4"), (B, "ipv6"))), skip={B: "deleted"})
    assert p.decisions == (Decision(B, Planned.DELETE, V1, ""),)
    assert any(B in n and "still lists" in n for n in p.notes)


def test_skip_ignored_still_counts_towards_protection() -> None:
    """A still-listed skipped peer is requested, so the interface keeps one peer."""
    p = plan(inv(A, B), state_of(vif(V1, (A, "ipv4"), (B, "ipv6"))), skip={A: "gone"})
    assert by_peer(p)[A].planned is Planned.PROTECTED


def test_live_state_wins_over_inventory_vif() -> None:
    """An inventory vif_id that disagrees is noted (peer, both VIFs) and live state is used."""
    p = plan(inv((B, V2)), state_of(vif(V1, (A, "ipv4"), (B, "ipv6"))))
    assert p.decisions[0].vif_id == V1
    assert len(p.notes) == 1
    assert B in p.notes[0]
    assert V1 in p.notes[0]
    assert V2 in p.notes[0]


def test_matching_inventory_vif_adds_no_note() -> None:
    """An inventory vif_id that agrees with live state is silent."""
    p = plan(inv((B, V1)), state_of(vif(V1, (A, "ipv4"), (B, "ipv6"))))
    assert p.notes == ()


def test_notes_are_capped_with_a_summary() -> None:
    """Many disagreements name the first peers and sum up the rest in one note."""
    n = MAX_NOTES_PER_KIND + 5
    vifs = [vif(f"v{i}", (f"p{i}", "ipv4"), (f"q{i}", "ipv6")) for i in range(n)]
    p = plan(inv(*[(f"p{i}", "elsewhere") for i in range(n)]), state_of(*vifs))
    assert len(p.notes) == MAX_NOTES_PER_KIND + 1
    assert "5 more" in p.notes[-1]


def test_invalid_rows_follow_requested_decisions() -> None:
    """Invalid rows become INVALID decisions after the requested ones, raw value and reason."""
    bad = (InvalidRow(3, "not-a-uuid", "not a UUID"), InvalidRow(5, "", "empty"))
    p = plan(inv(A, invalid=bad), state_of(vif(V1, (A, "ipv4"), (B, "ipv6"))))
    assert p.decisions[1:] == (
        Decision("not-a-uuid", Planned.INVALID, None, "not a UUID"),
        Decision("", Planned.INVALID, None, "empty"),
    )


def test_duplicates_in_requested_are_planned_once() -> None:
    """A repeated ID (which the inventory should have collapsed) gets one decision and a note."""
    p = plan(inv(A, A), state_of(vif(V1, (A, "ipv4"), (B, "ipv6"))))
    assert p.decisions == (Decision(A, Planned.DELETE, V1, ""),)
    assert any("more than once" in n for n in p.notes)


def test_repeated_peer_in_listing_does_not_hide_last_peer() -> None:
    """A listing that repeats a peer still counts one distinct peer: it is protected."""
    p = plan(inv(A), state_of(vif(V1, (A, "ipv4"), (A, "ipv4"))))
    assert p.decisions[0].planned is Planned.PROTECTED


def test_non_active_status_is_still_planned_for_delete() -> None:
    """Peer status does not change the plan; the API decides."""
    v = VifInfo(V1, (PeerInfo(A, V1, "ipv4"), PeerInfo(B, V1, "ipv6", "PENDING_UPDATE")))
    assert plan(inv(B), state_of(v)).decisions[0].planned is Planned.DELETE


def test_plan_carries_state_digest() -> None:
    """The plan records the digest of the state it was made from."""
    s = state_of(vif(V1, (A, "ipv4")))
    assert plan(inv(A), s).state_digest == s.digest != ""


def test_state_digest_is_order_independent_and_content_sensitive() -> None:
    """Listing order does not change the digest; a peer more or less does."""
    v1 = vif(V1, (A, "ipv4"), (B, "ipv6"))
    v1_swapped = vif(V1, (B, "ipv6"), (A, "ipv4"))
    v2 = vif(V2, (C, "ipv4"))
    assert state_digest([v1, v2]) == state_digest([v2, v1_swapped])
    assert state_digest([v1, v2]) != state_digest([v1])
    assert state_digest([v1, v2]) != state_digest([vif(V1, (A, "ipv4")), v2])
    assert len(state_digest([])) == 64


# --- properties ---------------------------------------------------------------------------------


@st.composite
def fleets(draw: st.DrawFn) -> tuple[LiveState, Inventory, dict[str, str]]:
    """A random fleet (1-3 peers per VIF), a random requested subset plus absent IDs, and skips."""
    n_vifs = draw(st.integers(1, 12))
    counter = iter(range(1, 10_000))
    vifs = []
    for _ in range(n_vifs):
        vid = uid(next(counter))
        fams = draw(st.lists(st.sampled_from(["ipv4", "ipv6"]), min_size=1, max_size=3))
        vifs.append(vif(vid, *[(uid(next(counter)), f) for f in fams]))
    all_peers = [p.id for v in vifs for p in v.peers]
    chosen = draw(st.lists(st.sampled_from(all_peers), unique=True)) if all_peers else []
    absent = [uid(5000 + i) for i in range(draw(st.integers(0, 3)))]
    ids = draw(st.permutations(chosen + absent))
    skip = {i: "deleted earlier" for i in ids if draw(st.booleans()) and draw(st.booleans())}
    return state_of(*vifs), inv(*ids), skip


@settings(max_examples=300, deadline=None)
@given(fleets(), st.sampled_from(list(Keep)))
def test_plan_invariants(case: tuple[LiveState, Inventory, dict[str, str]], keep: Keep) -> None:
    """Never every peer of a VIF deleted; one decision each; live owners; protection only if all."""
    state, inventory, skip = case
    p = plan(inventory, state, keep=keep, skip=skip)
    owner = state.owner_index()
    requested = [r.peer_id for r in inventory.requested]
    # (b) exactly one decision per requested peer, in inventory order
    assert [d.peer_id for d in p.decisions] == requested
    deletes = Counter(d.vif_id for d in p.decisions if d.planned is Planned.DELETE)
    for d in p.decisions:
        if d.planned in (Planned.DELETE, Planned.PROTECTED):
            assert d.vif_id == owner[d.peer_id].id  # (c) live owner
        else:
            assert d.peer_id not in owner
            assert d.planned is (Planned.SKIPPED if d.peer_id in skip else Planned.GONE)
    for v in state.vifs:
        assert deletes[v.id] < len(v.peers)  # (a) never the whole interface
        req_here = [p_.id for p_ in v.peers if p_.id in set(requested)]
        protected = [d for d in p.decisions if d.planned is Planned.PROTECTED and d.vif_id == v.id]
        # (d) exactly one protected peer iff every peer is requested
        assert len(protected) == (1 if len(req_here) == len(v.peers) else 0)
        if protected:
            fams = {p_.id: p_.address_family for p_ in v.peers}
            # (e) the kept family is preferred whenever the interface has such a peer
            if keep.value in fams.values():
                assert fams[protected[0].peer_id] == keep.value
            same = [i for i, f in fams.items() if f == fams[protected[0].peer_id]]
            assert protected[0].peer_id == min(same)


# --- planning interface by interface (PlanBuilder) -----------------------------------------------


@st.composite
def odd_fleets(draw: st.DrawFn) -> tuple[LiveState, Inventory, dict[str, str]]:
    """Fleets as listings may really come: shuffled, IDs repeated, peers listed twice, IPv4."""
    state, inventory, skip = draw(fleets())
    vifs = list(state.vifs)
    if draw(st.booleans()) and vifs:  # a peer listed by a second interface, or one repeated
        donor = draw(st.sampled_from(vifs))
        target = draw(st.sampled_from(vifs))
        extra = donor.peers[0]
        vifs[vifs.index(target)] = VifInfo(
            target.id, (*target.peers, PeerInfo(extra.id, target.id, extra.address_family))
        )
    if draw(st.booleans()) and vifs:  # an interface ID listed twice
        twin = draw(st.sampled_from(vifs))
        vifs.append(VifInfo(twin.id, (PeerInfo(uid(9000), twin.id, "IPv6"),)))
    shuffled: list[VifInfo] = draw(st.permutations(vifs))
    return state_of(*shuffled), inventory, skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(fleets(), odd_fleets()), st.sampled_from(list(Keep)))
def test_builder_plans_exactly_as_the_whole_listing(
    case: tuple[LiveState, Inventory, dict[str, str]], keep: Keep
) -> None:
    """Interface by interface, or whole when refused: the same decisions, notes and digest."""
    state, inventory, skip = case
    whole = _plan_whole(inventory, state, keep, skip)
    assert plan(inventory, state, keep=keep, skip=skip) == whole
    builder = PlanBuilder(inventory, keep=keep, skip=skip)
    fed = all(
        builder.add(v.id, [p.id for p in v.peers], [p.address_family.lower() for p in v.peers])
        for v in state.vifs
    )
    if fed:
        assert builder.summary(state.digest, protected_limit=2) == summarize(
            whole, protected_limit=2
        )


def test_builder_refuses_a_peer_listed_by_two_interfaces() -> None:
    """The last listing owns a peer listed twice: only the whole listing can tell."""
    builder = PlanBuilder(inv(A))
    assert builder.add(V1, [A, B], ["ipv4", "ipv6"])
    assert not builder.add(V2, [A], ["ipv4"])
    assert builder.refused
    assert not builder.add("v3", [C], ["ipv4"])


def test_builder_refuses_an_interface_listed_twice_with_requested_peers() -> None:
    """Interface IDs out of order are tracked; a second owning listing of one is refused."""
    builder = PlanBuilder(inv(A, C, D))
    assert builder.add(V2, [A], ["ipv4"])
    assert builder.add(V1, [C], ["ipv4"])  # out of order: fine, but now checked
    assert builder.add(V1, [B], ["ipv4"])  # no requested peer: cannot matter
    assert not builder.add(V2, [D], ["ipv4"])


def test_summary_counts_and_caps_protected_peers() -> None:
    """A summary counts like Plan.counts() and keeps only the first protected decisions."""
    vifs = [vif(f"v{i}", (f"p{i}", "ipv4")) for i in range(5)]
    inventory = inv(*[f"p{i}" for i in range(5)], "gone-1")
    builder = PlanBuilder(inventory)
    for v in vifs:
        assert builder.add(v.id, [p.id for p in v.peers], ["ipv4"])
    summary = builder.summary("d", protected_limit=2)
    assert summary.counts == plan(inventory, state_of(*vifs)).counts()
    assert summary.counts == {"protected": 5, "gone": 1}
    assert [d.peer_id for d in summary.protected] == ["p0", "p1"]
    assert summary.protected[0].reason == protected_reason("v0")
    assert summary.state_digest == "d"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=3))))
def test_streamed_digest_is_state_digest(listing: list[tuple[str, list[str]]]) -> None:
    """Hashed as interfaces come (if in order), or held and sorted: always state_digest."""
    vifs = [VifInfo(v, tuple(PeerInfo(p, v) for p in peers)) for v, peers in listing]
    streamed, held = StateDigest(), StateDigest(in_order=False)
    for v, peers in listing:
        streamed.add(v, peers)
        held.add(v, peers)
    assert held.hexdigest() == state_digest(vifs)
    lines = [f"{v}:{','.join(sorted(peers))}\n" for v, peers in listing]
    in_order = lines == sorted(lines)
    assert streamed.hexdigest() == (state_digest(vifs) if in_order else None)
