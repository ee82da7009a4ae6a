"""JSON documents of the simulated API: VifPeer (reference §2) and VirtualInterface (§3).

Pure functions of their arguments; addresses derive from the interface's position so that
generated fleets are stable.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


def project_id_for_seed(seed: int) -> str:
    """The 32-hex project ID a generated fleet uses for `seed`."""
    return f"{random.Random(seed).getrandbits(128):032x}"


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID string drawn from `rng` (128 bits)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _timestamp(index: int) -> str:
    moment = _EPOCH + timedelta(minutes=index)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _v4_pair(index: int) -> tuple[str, str]:
    # One /30 per interface inside 10.0.0.0/8: enough room for four million interfaces.
    n = (index * 4) % (1 << 24)
    a, b, c = n >> 16, (n >> 8) & 255, n & 255
    return f"10.{a}.{b}.{c + 1}/30", f"10.{a}.{b}.{c + 2}/30"


def _v6_pair(index: int) -> tuple[str, str]:
    hi, lo = (index >> 16) & 0xFFFF, index & 0xFFFF
    return f"fd00:{hi:x}:{lo:x}::1/64", f"fd00:{hi:x}:{lo:x}::2/64"


def peer_doc(
    *,
    peer_id: str,
    vif_id: str,
    project_id: str,
    family: str,
    index: int,
    bgp_asn: int | None = 64512,
    device_id: str = "10.255.0.1",
) -> dict[str, Any]:
    """A full VifPeer object (reference §2) for interface number `index`."""
    local, remote = _v4_pair(index) if family == "ipv4" else _v6_pair(index)
    bgp = bgp_asn is not None
    return {
        "id": peer_id,
        "tenant_id": project_id,
        "name": f"peer-{index:05d}-{family}",
        "description": "",
        "address_family": family,
        "local_gateway_ip": local,
        "remote_gateway_ip": remote,
        "route_mode": "bgp" if bgp else "static",
        "bgp_asn": bgp_asn,
        "bgp_md5": None,
        "remote_ep_group": [remote.replace("/30", "/32").replace("/64", "/128")],
        "service_ep_group": None,
        "device_id": device_id,
        "bgp_route_limit": 100,
        "bgp_status": "Established" if bgp else None,
        "status": "ACTIVE",
        "vif_id": vif_id,
        "receive_route_num": 1 if bgp else -1,
        "enable_nqa": False,
        "enable_bfd": False,
    }


def vif_doc(
    *,
    vif_id: str,
    project_id: str,
    index: int,
    direct_connect_id: str,
    vgw_id: str,
    vlan: int = 100,
    bandwidth: int = 100,
) -> dict[str, Any]:
    """A VirtualInterface object (reference §3) without its `vif_peers`."""
    local, remote = _v4_pair(index)
    stamp = _timestamp(index)
    return {
        "id": vif_id,
        "name": f"vif-{index:05d}",
        "description": "bulkdel simulator",
        "tenant_id": project_id,
        "direct_connect_id": direct_connect_id,
        "vgw_id": vgw_id,
        "type": "private",
        "service_type": "VGW",
        "status": "ACTIVE",
        "admin_state_up": True,
        "bandwidth": bandwidth,
        "vlan": vlan,
        "route_limit": 50,
        "enable_bfd": False,
        "enable_nqa": False,
        "create_time": stamp,
        "update_time": stamp,
        "enterprise_project_id": "0",
        "address_family": "ipv4",
        "local_gateway_v4_ip": local,
        "remote_gateway_v4_ip": remote,
        "priority": "normal",
        "tags": [],
    }
