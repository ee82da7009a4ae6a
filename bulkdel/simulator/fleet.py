"""The simulated project: virtual interfaces and their peers (pure, deterministic).

A `Fleet` is mutable (the simulator deletes and creates peers in it) but does no I/O, reads no
clock and draws randomness only from the `random.Random` it owns. Interface IDs are kept in a
sorted list so a page of the listing costs O(log n + page), and peers are indexed by ID so a
delete costs O(1).

`generate_fleet(n, seed)` is stable: for a given seed it always draws the same values in the
same order (a fixed number of draws per interface), so `generate_fleet(20, seed=1)` is a prefix,
by generation order, of `generate_fleet(40, seed=1)` and does not depend on `two_peer_ratio`
except for which interfaces get an IPv6 peer.
"""

from __future__ import annotations

import random
import uuid
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bulkdel.errors import InputError
from bulkdel.models import PeerInfo, VifInfo
from bulkdel.simulator.documents import new_uuid, peer_doc, project_id_for_seed, vif_doc

#: Spec for `Fleet.from_spec`: (vif_id, [(peer_id, address_family), ...]) per interface.
FleetSpec = Iterable[tuple[str, Sequence[tuple[str, str]]]]

FAMILIES = ("ipv4", "ipv6")
_REQUIRED_CREATE = ("name", "address_family", "local_gateway_ip", "remote_gateway_ip", "vif_id")


class DeleteResult(StrEnum):
    """What `Fleet.delete_peer` did."""

    DELETED = "deleted"
    NOT_FOUND = "not_found"
    LAST_PEER = "last_peer"


class CreateResult(StrEnum):
    """What `Fleet.create_peer` did."""

    CREATED = "created"
    INVALID = "invalid"  # missing or bad field, duplicate ID
    NO_VIF = "no_vif"  # the interface does not exist
    CONFLICT = "conflict"  # already two peers, or one of that address family


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    """The result of a create: the new peer document, or why there is none."""

    result: CreateResult
    peer: dict[str, Any] | None = None
    message: str = ""


class Fleet:
    """Every virtual interface of one project and the peers each one lists."""

    __slots__ = ("_bases", "_ids", "_owner", "_peers", "_rng", "project_id")

    def __init__(self, project_id: str, *, rng: random.Random | None = None) -> None:
        self.project_id = project_id
        self._rng = rng or random.Random(project_id)
        self._bases: dict[str, dict[str, Any]] = {}
        self._peers: dict[str, dict[str, dict[str, Any]]] = {}
        self._owner: dict[str, str] = {}
        self._ids: list[str] = []

    # --- construction ---------------------------------------------------------------------

    def _add_vif(self, base: dict[str, Any], peers: Iterable[dict[str, Any]]) -> None:
        vif_id = base["id"]
        if vif_id in self._bases:
            raise InputError(f"virtual interface {vif_id} appears twice", fix="list it once")
        self._bases[vif_id] = base
        own: dict[str, dict[str, Any]] = {}
        for peer in peers:
            pid = peer["id"]
            if pid in self._owner or pid in own:
                raise InputError(f"peer {pid} appears twice", fix="give every peer its own ID")
            own[pid] = peer
            self._owner[pid] = vif_id
        self._peers[vif_id] = own

    def _seal(self) -> None:
        self._ids = sorted(self._bases)

    @classmethod
    def from_spec(cls, spec: FleetSpec, *, project_id: str | None = None, seed: int = 0) -> Fleet:
        """Build a fleet from `[(vif_id, [(peer_id, family), ...]), ...]` with full documents."""
        pid = project_id or project_id_for_seed(seed)
        fleet = cls(pid, rng=random.Random(f"bulkdel-sim-fleet:{seed}"))
        dc_id, vgw_id = new_uuid(fleet._rng), new_uuid(fleet._rng)
        for index, (vif_id, peers) in enumerate(spec):
            base = vif_doc(
                vif_id=vif_id, project_id=pid, index=index, direct_connect_id=dc_id, vgw_id=vgw_id
            )
            docs = [
                peer_doc(peer_id=p, vif_id=vif_id, project_id=pid, family=fam, index=index)
                for p, fam in peers
            ]
            fleet._add_vif(base, docs)
        fleet._seal()
        return fleet

    @classmethod
    def from_listing(
        cls, doc: Mapping[str, Any], *, project_id: str | None = None, source: str = "listing"
    ) -> Fleet:
        """Load a ListVirtualInterfaces body (`{"virtual_interfaces": [...]}`) as given.

        The project is `project_id`, else the first interface's `tenant_id`, else the seed-0
        project. Peers without a `vif_id` get their interface's ID.
        """
        items = doc.get("virtual_interfaces")
        if not isinstance(items, list):
            raise InputError(
                "not a ListVirtualInterfaces body: no `virtual_interfaces` array",
                file=source,
                fix="pass the JSON that `bulkdel export` or GET /__sim/state writes",
            )
        first = items[0] if items and isinstance(items[0], dict) else {}
        tenant = first.get("tenant_id")
        pid = project_id or (tenant if isinstance(tenant, str) and tenant else None)
        fleet = cls(pid or project_id_for_seed(0), rng=random.Random(f"bulkdel-sim-load:{pid}"))
        for n, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise InputError(
                    f"virtual interface #{n} has no string `id`",
                    file=source,
                    column=f"virtual_interfaces[{n}]",
                    fix="give every interface its `id`",
                )
            base = {k: v for k, v in item.items() if k != "vif_peers"}
            peers = []
            for m, raw in enumerate(item.get("vif_peers") or []):
                if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                    raise InputError(
                        f"peer #{m} of interface {item['id']} has no string `id`",
                        file=source,
                        column=f"virtual_interfaces[{n}].vif_peers[{m}]",
                        fix="give every peer its `id`",
                    )
                peers.append({**raw, "vif_id": raw.get("vif_id") or item["id"]})
            fleet._add_vif(base, peers)
        fleet._seal()
        return fleet

    def copy(self) -> Fleet:
        """An independent copy (documents copied one level deep, same random state)."""
        twin = Fleet(self.project_id, rng=random.Random())
        twin._rng.setstate(self._rng.getstate())
        twin._bases = {k: dict(v) for k, v in self._bases.items()}
        twin._peers = {k: {p: dict(d) for p, d in v.items()} for k, v in self._peers.items()}
        twin._owner = dict(self._owner)
        twin._ids = list(self._ids)
        return twin

    # --- reading --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def peer_count(self) -> int:
        """Number of peers over all interfaces."""
        return len(self._owner)

    def vif_ids(self) -> list[str]:
        """Interface IDs, ascending."""
        return list(self._ids)

    def peer_ids(self) -> list[str]:
        """Every peer ID, grouped by interface in ascending interface order."""
        return [p for v in self._ids for p in self._peers[v]]

    def owner_of(self, peer_id: str) -> str | None:
        """The interface that lists `peer_id`, or None."""
        return self._owner.get(peer_id)

    def peers_of(self, vif_id: str) -> list[dict[str, Any]]:
        """Copies of the peer documents of one interface (empty if unknown)."""
        return [dict(p) for p in self._peers.get(vif_id, {}).values()]

    def vif(self, vif_id: str) -> dict[str, Any] | None:
        """The full VirtualInterface document (with `vif_peers`), or None."""
        base = self._bases.get(vif_id)
        if base is None:
            return None
        return {**base, "vif_peers": [dict(p) for p in self._peers[vif_id].values()]}

    def page(
        self, *, limit: int, marker: str | None = None, ids: Sequence[str] = ()
    ) -> tuple[list[dict[str, Any]], str]:
        """One listing page sorted by ID: the documents and the next marker ("" on the last)."""
        universe = sorted(set(ids) & self._bases.keys()) if ids else self._ids
        start = bisect_right(universe, marker) if marker else 0
        chunk = universe[start : start + limit]
        docs = [d for d in (self.vif(v) for v in chunk) if d is not None]
        more = start + limit < len(universe)
        return docs, (chunk[-1] if more and chunk else "")

    def to_listing(self) -> dict[str, Any]:
        """The whole fleet as a ListVirtualInterfaces-shaped body (without request_id)."""
        docs, _ = self.page(limit=max(1, len(self._ids)))
        info = {"previous_marker": "", "current_count": len(docs), "next_marker": ""}
        return {"virtual_interfaces": docs, "page_info": info}

    def vif_infos(self) -> tuple[VifInfo, ...]:
        """The fleet as bulkdel's own `VifInfo` records (ascending interface ID)."""
        return tuple(
            VifInfo(
                id=v,
                name=str(self._bases[v].get("name", "")),
                status=str(self._bases[v].get("status", "ACTIVE")),
                peers=tuple(
                    PeerInfo(
                        id=p,
                        vif_id=v,
                        address_family=str(d.get("address_family", "ipv4")),
                        status=str(d.get("status", "ACTIVE")),
                    )
                    for p, d in self._peers[v].items()
                ),
            )
            for v in self._ids
        )

    # --- writing --------------------------------------------------------------------------

    def delete_peer(self, peer_id: str) -> DeleteResult:
        """Remove a peer unless it is unknown or the last one of its interface."""
        vif_id = self._owner.get(peer_id)
        if vif_id is None:
            return DeleteResult.NOT_FOUND
        peers = self._peers[vif_id]
        if len(peers) <= 1:
            return DeleteResult.LAST_PEER
        del peers[peer_id]
        del self._owner[peer_id]
        return DeleteResult.DELETED

    def create_peer(self, spec: Mapping[str, Any]) -> CreateOutcome:
        """Add a peer from a CreateVifPeer body (`vif_peer` contents).

        At most two peers per interface, one per address family. An `id` field (a simulator
        extension, so tests can restore a deleted peer) is used when given and unused.
        """
        missing = [k for k in _REQUIRED_CREATE if not isinstance(spec.get(k), str) or not spec[k]]
        if missing:
            return CreateOutcome(CreateResult.INVALID, message=f"missing field(s): {missing}")
        family = spec["address_family"].lower()
        if family not in FAMILIES:
            return CreateOutcome(CreateResult.INVALID, message="address_family must be ipv4/ipv6")
        vif_id = spec["vif_id"]
        peers = self._peers.get(vif_id)
        if peers is None:
            return CreateOutcome(CreateResult.NO_VIF, message=f"interface {vif_id} not found")
        if len(peers) >= 2 or any(p.get("address_family") == family for p in peers.values()):
            return CreateOutcome(
                CreateResult.CONFLICT,
                message=f"interface {vif_id} already has an {family} peer (max one per family)",
            )
        peer_id = spec.get("id")
        if peer_id is not None:
            if not isinstance(peer_id, str) or not _isnew_uuid(peer_id) or peer_id in self._owner:
                return CreateOutcome(CreateResult.INVALID, message="id must be an unused UUID")
        else:
            peer_id = new_uuid(self._rng)
            while peer_id in self._owner:
                peer_id = new_uuid(self._rng)
        asn = spec.get("bgp_asn")
        route_mode = spec.get("route_mode") or ("bgp" if asn else "static")
        doc = {
            **peer_doc(
                peer_id=peer_id,
                vif_id=vif_id,
                project_id=self.project_id,
                family=family,
                index=0,  # gateway addresses come from the request below
                bgp_asn=asn if isinstance(asn, int) else None,
            ),
            "name": spec["name"],
            "description": str(spec.get("description") or ""),
            "local_gateway_ip": spec["local_gateway_ip"],
            "remote_gateway_ip": spec["remote_gateway_ip"],
            "route_mode": route_mode,
            "remote_ep_group": list(spec.get("remote_ep_group") or []),
        }
        peers[peer_id] = doc
        self._owner[peer_id] = vif_id
        return CreateOutcome(CreateResult.CREATED, peer=dict(doc))


def _isnew_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False


def generate_fleet(interfaces: int, seed: int, *, two_peer_ratio: float = 0.5) -> Fleet:
    """A deterministic fleet: every interface has an IPv4 peer, a share also an IPv6 one.

    Draw order from `random.Random(seed)`: project ID, Direct Connect ID, gateway ID, then per
    interface exactly: interface ID, IPv4 peer ID, IPv6 peer ID, IPv6 coin, BGP ASN, VLAN.
    """
    if interfaces < 0:
        raise ValueError("interfaces must be >= 0")
    rng = random.Random(seed)
    project_id = f"{rng.getrandbits(128):032x}"
    dc_id, vgw_id = new_uuid(rng), new_uuid(rng)
    fleet = Fleet(project_id, rng=random.Random(f"bulkdel-sim-fleet:{seed}"))
    for index in range(interfaces):
        vif_id, v4_id, v6_id = new_uuid(rng), new_uuid(rng), new_uuid(rng)
        coin = rng.random()
        asn = rng.randint(64512, 65534)
        vlan = rng.randint(1, 3999)
        base = vif_doc(
            vif_id=vif_id,
            project_id=project_id,
            index=index,
            direct_connect_id=dc_id,
            vgw_id=vgw_id,
            vlan=vlan,
        )
        peers = [
            peer_doc(
                peer_id=v4_id,
                vif_id=vif_id,
                project_id=project_id,
                family="ipv4",
                index=index,
                bgp_asn=asn,
            )
        ]
        if coin < two_peer_ratio:
            peers.append(
                peer_doc(
                    peer_id=v6_id,
                    vif_id=vif_id,
                    project_id=project_id,
                    family="ipv6",
                    index=index,
                    bgp_asn=asn,
                )
            )
        fleet._add_vif(base, peers)
    fleet._seal()
    return fleet
