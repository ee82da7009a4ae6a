"""Tests for bulkdel.simulator.fleet: the deterministic, pure fleet model."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdel.errors import InputError
from bulkdel.simulator.documents import project_id_for_seed
from bulkdel.simulator.fleet import CreateResult, DeleteResult, Fleet, generate_fleet

seeds = st.integers(min_value=0, max_value=2**32)
ratios = st.floats(min_value=0.0, max_value=1.0)


def dump(fleet: Fleet) -> str:
    return json.dumps(fleet.to_listing(), sort_keys=True)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), seed=seeds, ratio=ratios)
def test_generation_is_deterministic_and_well_formed(n: int, seed: int, ratio: float) -> None:
    """Same inputs give the same fleet; every interface has an IPv4 peer and at most an IPv6."""
    fleet = generate_fleet(n, seed, two_peer_ratio=ratio)
    assert dump(fleet) == dump(generate_fleet(n, seed, two_peer_ratio=ratio))
    assert re.fullmatch(r"[0-9a-f]{32}", fleet.project_id)
    assert fleet.project_id == project_id_for_seed(seed)
    assert len(fleet) == n
    for vif in fleet.to_listing()["virtual_interfaces"]:
        families = [p["address_family"] for p in vif["vif_peers"]]
        assert families in (["ipv4"], ["ipv4", "ipv6"])
        assert uuid.UUID(vif["id"]).version == 4
        assert all(p["vif_id"] == vif["id"] for p in vif["vif_peers"])
        assert all(p["tenant_id"] == fleet.project_id for p in vif["vif_peers"])


def test_seed_one_is_pinned() -> None:
    """generate_fleet(20, seed=1) is what sample inventories are written from: keep it stable."""
    fleet = generate_fleet(20, 1)
    assert fleet.project_id == "cd613e30d8f16adf91b7584a2265b1f5"
    assert fleet.peer_count == 29
    assert fleet.vif_ids()[0] == "0326324d-fb69-4ffb-ba18-90c78092b4d4"


@settings(max_examples=20, deadline=None)
@given(seed=seeds, ratio=ratios)
def test_a_smaller_fleet_is_a_prefix_of_a_larger_one(seed: int, ratio: float) -> None:
    """Growing the fleet adds interfaces without changing the ones already generated."""
    small = generate_fleet(5, seed, two_peer_ratio=ratio)
    large = generate_fleet(12, seed, two_peer_ratio=ratio)
    for vif_id in small.vif_ids():
        assert small.vif(vif_id) == large.vif(vif_id)


def test_ratio_extremes() -> None:
    """two_peer_ratio 0 gives one peer per interface, 1 gives two, with the same IDs."""
    none, every = (
        generate_fleet(10, 4, two_peer_ratio=0.0),
        generate_fleet(10, 4, two_peer_ratio=1.0),
    )
    assert none.peer_count == 10
    assert every.peer_count == 20
    assert none.vif_ids() == every.vif_ids()
    assert set(none.peer_ids()) < set(every.peer_ids())


def test_different_seeds_differ() -> None:
    """Another seed gives another project and other IDs."""
    a, b = generate_fleet(3, 1), generate_fleet(3, 2)
    assert a.project_id != b.project_id
    assert not set(a.peer_ids()) & set(b.peer_ids())


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 40), limit=st.integers(1, 50), seed=seeds)
def test_paging_visits_every_interface_once_in_order(n: int, limit: int, seed: int) -> None:
    """Following next_marker yields all IDs sorted, each page at most `limit` long."""
    fleet = generate_fleet(n, seed)
    seen: list[str] = []
    marker: str | None = None
    for _ in range(n + 2):
        docs, marker = fleet.page(limit=limit, marker=marker)
        assert len(docs) <= limit
        seen += [d["id"] for d in docs]
        if not marker:
            break
    assert seen == sorted(fleet.vif_ids()) == fleet.vif_ids()


def test_id_filter_ignores_unknown_ids() -> None:
    """`ids` selects known interfaces, sorted; unknown ones are ignored."""
    fleet = generate_fleet(6, 9)
    ids = fleet.vif_ids()
    docs, marker = fleet.page(limit=10, ids=[ids[4], "nope", ids[1]])
    assert [d["id"] for d in docs] == [ids[1], ids[4]]
    assert marker == ""


@settings(max_examples=40, deadline=None)
@given(seed=seeds, picks=st.lists(st.integers(0, 10_000), max_size=60))
def test_deletes_never_empty_an_interface(seed: int, picks: list[int]) -> None:
    """Any sequence of deletes leaves every interface with a peer; refusals say why."""
    fleet = generate_fleet(8, seed, two_peer_ratio=0.7)
    all_ids = fleet.peer_ids()
    for pick in picks:
        peer_id = all_ids[pick % len(all_ids)]
        owner = fleet.owner_of(peer_id)
        before = len(fleet.peers_of(owner)) if owner else 0
        result = fleet.delete_peer(peer_id)
        if owner is None:
            assert result is DeleteResult.NOT_FOUND
        elif before == 1:
            assert result is DeleteResult.LAST_PEER
        else:
            assert result is DeleteResult.DELETED
            assert fleet.owner_of(peer_id) is None
    assert all(fleet.peers_of(v) for v in fleet.vif_ids())


def test_listing_round_trips() -> None:
    """from_listing(to_listing()) reproduces the fleet, project included."""
    fleet = generate_fleet(7, 3)
    fleet.delete_peer(fleet.peer_ids()[1])
    again = Fleet.from_listing(fleet.to_listing())
    assert again.project_id == fleet.project_id
    assert dump(again) == dump(fleet)


def test_from_listing_rejects_duplicates_and_non_listings() -> None:
    """A body without virtual_interfaces, or a peer listed twice, is an InputError."""
    with pytest.raises(InputError, match="virtual_interfaces"):
        Fleet.from_listing({"vif_peers": []})
    vif = {"id": "v1", "vif_peers": [{"id": "p1"}]}
    with pytest.raises(InputError, match="p1"):
        Fleet.from_listing({"virtual_interfaces": [vif, {**vif, "id": "v2"}]})


def test_from_spec_builds_full_documents() -> None:
    """from_spec takes (vif_id, [(peer_id, family)]) and fills in full VifPeer objects."""
    fleet = Fleet.from_spec([("v-b", [("p1", "ipv4"), ("p2", "ipv6")]), ("v-a", [("p3", "ipv4")])])
    assert fleet.vif_ids() == ["v-a", "v-b"]
    peer = fleet.peers_of("v-b")[1]
    assert (peer["id"], peer["address_family"], peer["vif_id"]) == ("p2", "ipv6", "v-b")
    assert peer["local_gateway_ip"].endswith("/64")
    assert fleet.vif_infos()[1].peers[0].id == "p1"


def test_create_rules() -> None:
    """Create needs an existing interface, a free family slot and the required fields."""
    fleet = Fleet.from_spec([("v1", [("p1", "ipv4")])])
    base = {
        "name": "n",
        "address_family": "ipv6",
        "local_gateway_ip": "fd00::1/64",
        "remote_gateway_ip": "fd00::2/64",
        "vif_id": "v1",
    }
    assert fleet.create_peer({**base, "vif_id": "v9"}).result is CreateResult.NO_VIF
    assert fleet.create_peer({**base, "name": ""}).result is CreateResult.INVALID
    assert fleet.create_peer({**base, "id": "p1"}).result is CreateResult.INVALID
    created = fleet.create_peer(base)
    assert created.result is CreateResult.CREATED
    assert created.peer is not None
    assert fleet.owner_of(created.peer["id"]) == "v1"
    assert fleet.create_peer(base).result is CreateResult.CONFLICT


def test_copy_is_independent() -> None:
    """Changing a copy leaves the original alone."""
    fleet = generate_fleet(3, 1, two_peer_ratio=1.0)
    twin = fleet.copy()
    twin.delete_peer(twin.peer_ids()[0])
    assert fleet.peer_count == twin.peer_count + 1
