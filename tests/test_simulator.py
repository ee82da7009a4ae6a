"""Tests for bulkdel.simulator over HTTP: a real aiohttp server on loopback, a real client."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from bulkdel.signer import format_sdk_date, sign_request
from bulkdel.simulator import (
    LAST_PEER_ERROR_CODE,
    NOT_FOUND_ERROR_CODE,
    Fleet,
    SimConfig,
    SimHandle,
    running_simulator,
)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


class Api:
    """A thin client for the simulator's routes, authenticated with its static token."""

    def __init__(self, sim: SimHandle, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.base = f"{sim.endpoint}/v3/{sim.project_id}/dcaas"
        self.auth = {"X-Auth-Token": sim.token}

    async def call(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, Any, CIMultiDictProxy[str]]:
        async with self.session.request(
            method, url, headers=self.auth if headers is None else headers, **kw
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body, resp.headers

    async def delete(self, peer_id: str, **kw: Any) -> tuple[int, Any, CIMultiDictProxy[str]]:
        return await self.call("DELETE", f"{self.base}/vif-peers/{peer_id}", **kw)

    async def list(self, **params: Any) -> tuple[int, Any, CIMultiDictProxy[str]]:
        return await self.call("GET", f"{self.base}/virtual-interfaces", params=params)

    async def stats(self) -> dict[str, Any]:
        _, body, _ = await self.call("GET", f"{self.sim.endpoint}/__sim/stats", headers={})
        assert isinstance(body, dict)
        return body


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with (
        running_simulator(SimConfig(interfaces=10, seed=3)) as sim,
        aiohttp.ClientSession() as session,
    ):
        yield Api(sim, session)


def spec_fleet(n_two: int, n_one: int = 0) -> Fleet:
    """`n_two` interfaces with IPv4+IPv6 peers, then `n_one` with IPv4 only; readable IDs."""
    spec = []
    for i in range(n_two + n_one):
        peers = [(f"00000000-0000-4000-8000-{i:012d}", "ipv4")]
        if i < n_two:
            peers.append((f"00000000-0000-4000-9000-{i:012d}", "ipv6"))
        spec.append((f"10000000-0000-4000-8000-{i:012d}", peers))
    return Fleet.from_spec(spec)


def v6(i: int) -> str:
    return f"00000000-0000-4000-9000-{i:012d}"


def v4(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


# --- listing -----------------------------------------------------------------------------------


async def test_pagination_walks_every_interface_in_id_order(api: Api) -> None:
    """limit=3 over 10 interfaces gives 4 pages, sorted, the last with an empty next_marker."""
    seen: list[str] = []
    marker = ""
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if marker:
            params["marker"] = marker
        status, body, headers = await api.list(**params)
        assert status == 200
        assert HEX32.match(body["request_id"])
        assert headers["X-Request-Id"] == body["request_id"]
        info = body["page_info"]
        assert info["current_count"] == len(body["virtual_interfaces"]) <= 3
        assert info["previous_marker"] == marker
        seen += [v["id"] for v in body["virtual_interfaces"]]
        pages += 1
        marker = info["next_marker"]
        if not marker:
            break
    assert pages == 4
    assert seen == sorted(seen) == api.sim.state.vif_ids()
    assert len(seen) == 10


async def test_listing_embeds_full_peer_objects(api: Api) -> None:
    """Each interface lists its peers as full VifPeer objects that name their interface."""
    _, body, _ = await api.list(limit=1)
    vif = body["virtual_interfaces"][0]
    assert vif["tenant_id"] == api.sim.project_id
    peer = vif["vif_peers"][0]
    assert peer["vif_id"] == vif["id"]
    assert peer["address_family"] == "ipv4"
    assert {"local_gateway_ip", "remote_gateway_ip", "route_mode", "status"} <= peer.keys()


async def test_id_filter_returns_only_those_interfaces_and_pages_them(api: Api) -> None:
    """Repeated `id` parameters select interfaces; limit still pages within the selection."""
    ids = api.sim.state.vif_ids()
    wanted = [ids[7], ids[2], "ffffffff-ffff-4fff-bfff-ffffffffffff"]
    url = f"{api.base}/virtual-interfaces"
    params = [("id", w) for w in wanted] + [("limit", "1")]
    status, body, _ = await api.call("GET", url, params=params)
    assert status == 200
    assert [v["id"] for v in body["virtual_interfaces"]] == [ids[2]]
    assert body["page_info"]["next_marker"] == ids[2]
    params += [("marker", ids[2])]
    _, body, _ = await api.call("GET", url, params=params)
    assert [v["id"] for v in body["virtual_interfaces"]] == [ids[7]]
    assert body["page_info"]["next_marker"] == ""


@pytest.mark.parametrize("limit", ["0", "2001", "abc"])
async def test_bad_limit_is_a_dc_parameter_error(api: Api, limit: str) -> None:
    """A limit outside 1..2000 answers 400 DC.0001."""
    status, body, _ = await api.list(limit=limit)
    assert (status, body["error_code"]) == (400, "DC.0001")


async def test_show_interface_and_unknown_interface(api: Api) -> None:
    """Show returns one interface; an unknown ID is a 404 with a DC error body."""
    vif_id = api.sim.state.vif_ids()[0]
    status, body, _ = await api.call("GET", f"{api.base}/virtual-interfaces/{vif_id}")
    assert status == 200
    assert body["virtual_interface"]["id"] == vif_id
    status, body, headers = await api.call(
        "GET", f"{api.base}/virtual-interfaces/ffffffff-ffff-4fff-bfff-ffffffffffff"
    )
    assert status == 404
    assert body["error_code"] == "DC.1211"
    assert headers["X-Request-Id"] == body["request_id"]


# --- delete ------------------------------------------------------------------------------------


async def test_delete_removes_the_peer_and_counts_it() -> None:
    """A 204 removes the peer from the live model and shows in stats and the log."""
    async with (
        running_simulator(SimConfig(fleet=spec_fleet(2))) as sim,
        aiohttp.ClientSession() as session,
    ):
        api = Api(sim, session)
        status, body, headers = await api.delete(v6(1))
        assert (status, body) == (204, None)
        assert HEX32.match(headers["X-Request-Id"])
        assert sim.state.owner_of(v6(1)) is None
        stats = await api.stats()
        assert stats["deletes_received"] == stats["deletes_applied"] == 1
        assert stats["by_status"] == {"204": 1}
        log = sim.log()
        assert log[0]["peer_id"] == v6(1)
        assert log[0]["vif_id"] == "10000000-0000-4000-8000-000000000001"
        assert (log[0]["status"], log[0]["applied"]) == (204, True)


async def test_unknown_peer_is_400_dc0002() -> None:
    """Deleting a peer that does not exist (or no longer does) answers 400 DC.0002."""
    async with (
        running_simulator(SimConfig(fleet=spec_fleet(1))) as sim,
        aiohttp.ClientSession() as session,
    ):
        api = Api(sim, session)
        assert (await api.delete(v6(0)))[0] == 204
        status, body, headers = await api.delete(v6(0))
        assert status == 400
        assert body["error_code"] == NOT_FOUND_ERROR_CODE == "DC.0002"
        assert headers["X-Request-Id"] == body["request_id"]


async def test_last_peer_is_refused_and_kept() -> None:
    """The last peer of an interface is refused with LAST_PEER_ERROR_CODE and stays."""
    async with (
        running_simulator(SimConfig(fleet=spec_fleet(1))) as sim,
        aiohttp.ClientSession() as session,
    ):
        api = Api(sim, session)
        assert (await api.delete(v4(0)))[0] == 204
        status, body, _ = await api.delete(v6(0))
        assert status == 400
        assert body["error_code"] == LAST_PEER_ERROR_CODE
        assert "last peer" in body["error_msg"]
        assert sim.state.owner_of(v6(0)) is not None
        _, state, _ = await api.call("GET", f"{sim.endpoint}/__sim/state", headers={})
        assert all(v["vif_peers"] for v in state["virtual_interfaces"])


async def test_config_fleet_is_copied_not_mutated() -> None:
    """The simulator works on a copy, so one SimConfig can start many fresh simulators."""
    fleet = spec_fleet(1)
    async with (
        running_simulator(SimConfig(fleet=fleet)) as sim,
        aiohttp.ClientSession() as session,
    ):
        assert (await Api(sim, session).delete(v6(0)))[0] == 204
    assert fleet.owner_of(v6(0)) is not None


# --- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "x-auth-token not found"),
        ({"X-Auth-Token": "not-a-token"}, "decrypt token fail"),
        ({"Authorization": "SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=0"}, "aksk"),
    ],
)
async def test_missing_or_wrong_credentials_are_401(
    api: Api, headers: dict[str, str], detail: str
) -> None:
    """No token, an unknown token, or AK/SK without a verifier: 401 APIGW.0301, not applied."""
    peer = api.sim.state.peer_ids()[0]
    for status, body, resp_headers in (
        await api.call("GET", f"{api.base}/virtual-interfaces", headers=headers),
        await api.delete(peer, headers=headers),
    ):
        assert status == 401
        assert body["error_code"] == "APIGW.0301"
        assert body["error_msg"].startswith("Incorrect IAM authentication information")
        assert detail in body["error_msg"]
        assert resp_headers["X-Request-Id"] == body["request_id"]
    assert api.sim.state.owner_of(peer) is not None


async def test_forbidden_token_is_403() -> None:
    """A token listed in forbidden_tokens authenticates but is refused 403 APIGW.0302."""
    async with (
        running_simulator(SimConfig(forbidden_tokens=frozenset({"weak-token"}))) as sim,
        aiohttp.ClientSession() as session,
    ):
        api = Api(sim, session)
        status, body, _ = await api.list()
        assert status == 200
        status, body, _ = await api.call(
            "GET", f"{api.base}/virtual-interfaces", headers={"X-Auth-Token": "weak-token"}
        )
        assert (status, body["error_code"]) == (403, "APIGW.0302")


async def test_wrong_project_in_path_is_403(api: Api) -> None:
    """A path naming another project is refused 403 APIGW.0302 and names the right project."""
    url = f"{api.sim.endpoint}/v3/{'0' * 32}/dcaas/virtual-interfaces"
    status, body, _ = await api.call("GET", url)
    assert (status, body["error_code"]) == (403, "APIGW.0302")
    assert api.sim.project_id in body["error_msg"]


async def test_aksk_uses_the_pluggable_verifier() -> None:
    """An SDK-HMAC-SHA256 request is passed to verify_signature; its verdict decides."""
    calls: list[tuple[str, str, str]] = []

    def verifier(method: str, path: str, query: str, headers: Any, body: bytes) -> bool:
        calls.append((method, path, query))
        return bool(headers.get("X-Good") == "yes")

    async with (
        running_simulator(SimConfig(verify_signature=verifier)) as sim,
        aiohttp.ClientSession() as session,
    ):
        api = Api(sim, session)
        auth = {"Authorization": "SDK-HMAC-SHA256 Access=x, SignedHeaders=host, Signature=0"}
        url = f"{api.base}/virtual-interfaces"
        assert (await api.call("GET", url, headers=auth))[0] == 401
        status, _, _ = await api.call(
            "GET", url, params={"limit": "5"}, headers={**auth, "X-Good": "yes"}
        )
        assert status == 200
        path = f"/v3/{sim.project_id}/dcaas/virtual-interfaces"
        assert calls == [("GET", path, ""), ("GET", path, "limit=5")]


async def test_with_signer_accepts_requests_signed_by_bulkdel_signer() -> None:
    """SimConfig.with_signer() verifies real SDK-HMAC-SHA256 signatures of its own ak/sk."""
    async with (
        running_simulator(SimConfig(fleet=spec_fleet(1)).with_signer()) as sim,
        aiohttp.ClientSession() as session,
    ):
        api = Api(sim, session)
        url = f"{api.base}/vif-peers/{v6(0)}"
        base = {"Content-Type": "application/json", "X-Project-Id": sim.project_id}
        date = format_sdk_date(datetime.now(UTC))
        good = {**base, **sign_request("DELETE", url, base, b"", sim.ak, sim.sk, date)}
        bad = {**base, **sign_request("DELETE", url, base, b"", sim.ak, "wrong-sk", date)}
        assert (await api.delete(v6(0), headers=bad))[0] == 401
        assert sim.state.owner_of(v6(0)) is not None
        assert (await api.delete(v6(0), headers=good))[0] == 204


async def test_iam_password_token_is_issued_and_accepted(api: Api) -> None:
    """POST /v3/auth/tokens returns 201 with X-Subject-Token, usable as X-Auth-Token."""
    cfg = api.sim.config
    body = iam_body(cfg.username, cfg.password, cfg.domain, project_name="eu-de")
    status, doc, headers = await api.call(
        "POST", f"{api.sim.endpoint}/v3/auth/tokens", json=body, headers={}
    )
    assert status == 201
    token = headers["X-Subject-Token"]
    assert token != api.sim.token
    assert doc["token"]["project"] == {
        "id": api.sim.project_id,
        "name": "eu-de",
        "domain": doc["token"]["project"]["domain"],
    }
    expires = datetime.fromisoformat(doc["token"]["expires_at"].replace("Z", "+00:00"))
    assert 86000 < (expires - datetime.now(UTC)).total_seconds() <= 86400
    status, _, _ = await api.call(
        "GET", f"{api.base}/virtual-interfaces", headers={"X-Auth-Token": token}
    )
    assert status == 200


async def test_iam_wrong_password_is_401(api: Api) -> None:
    """A wrong password gets a Keystone-style 401 and no token."""
    cfg = api.sim.config
    body = iam_body(cfg.username, "wrong", cfg.domain, project_id=api.sim.project_id)
    status, doc, headers = await api.call(
        "POST", f"{api.sim.endpoint}/v3/auth/tokens", json=body, headers={}
    )
    assert status == 401
    assert "X-Subject-Token" not in headers
    assert doc["error"]["code"] == 401
    assert "password" in doc["error"]["message"]


async def test_iam_token_expires() -> None:
    """With a tiny token_ttl_s, the issued token is refused 401 once it has expired."""
    cfg = SimConfig(token_ttl_s=0.3)
    async with running_simulator(cfg) as sim, aiohttp.ClientSession() as session:
        api = Api(sim, session)
        body = iam_body(sim.config.username, sim.config.password, sim.config.domain)
        _, _, headers = await api.call(
            "POST", f"{sim.endpoint}/v3/auth/tokens", json=body, headers={}
        )
        auth = {"X-Auth-Token": headers["X-Subject-Token"]}
        url = f"{api.base}/virtual-interfaces"
        assert (await api.call("GET", url, headers=auth))[0] == 200
        await asyncio.sleep(0.35)
        status, doc, _ = await api.call("GET", url, headers=auth)
        assert (status, doc["error_code"]) == (401, "APIGW.0301")
        assert "expire" in doc["error_msg"]


def iam_body(
    user: str, password: str, domain: str, *, project_name: str = "", project_id: str = ""
) -> dict[str, Any]:
    """An IAM password-auth request body (reference §7a)."""
    project = {"name": project_name} if project_name else {"id": project_id} if project_id else {}
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}},
        }
    }
    if project:
        auth["scope"] = {"project": project}
    return {"auth": auth}


# --- create, state and test hooks ---------------------------------------------------------------


async def test_create_peer_restores_a_deleted_peer() -> None:
    """POST vif-peers recreates a peer (same ID allowed); one per family, two at most."""
    async with (
        running_simulator(SimConfig(fleet=spec_fleet(1))) as sim,
        aiohttp.ClientSession() as session,
    ):
        api = Api(sim, session)
        vif = "10000000-0000-4000-8000-000000000000"
        assert (await api.delete(v6(0)))[0] == 204
        peer = {
            "id": v6(0),
            "name": "again",
            "address_family": "ipv6",
            "local_gateway_ip": "fd00::1/64",
            "remote_gateway_ip": "fd00::2/64",
            "vif_id": vif,
        }
        url = f"{api.base}/vif-peers"
        status, body, _ = await api.call("POST", url, json={"vif_peer": peer})
        assert status == 201
        assert body["vif_peer"]["id"] == v6(0)
        assert sim.state.owner_of(v6(0)) == vif
        status, body, _ = await api.call("POST", url, json={"vif_peer": {**peer, "id": None}})
        assert (status, body["error_code"]) == (400, "DC.0001")
        other = {**peer, "id": None, "vif_id": "ffffffff-ffff-4fff-bfff-ffffffffffff"}
        status, body, _ = await api.call("POST", url, json={"vif_peer": other})
        assert (status, body["error_code"]) == (400, "DC.1211")
        status, body, _ = await api.call("POST", url, data=b"not json")
        assert (status, body["error_code"]) == (400, "DC.0000")


async def test_state_and_reset_stats_hooks(api: Api) -> None:
    """GET /__sim/state lists the whole fleet; POST /__sim/reset-stats zeros counters and log."""
    await api.delete(api.sim.state.peer_ids()[0])
    _, state, _ = await api.call("GET", f"{api.sim.endpoint}/__sim/state", headers={})
    assert len(state["virtual_interfaces"]) == 10
    assert state["page_info"]["next_marker"] == ""
    assert (await api.stats())["deletes_received"] == 1
    await api.call("POST", f"{api.sim.endpoint}/__sim/reset-stats", headers={})
    assert (await api.stats())["deletes_received"] == 0
    _, log, _ = await api.call("GET", f"{api.sim.endpoint}/__sim/log", headers={})
    assert log == []


async def test_unknown_route_is_json_404(api: Api) -> None:
    """A route the simulator does not serve answers JSON 404 APIGW.0101 with a request ID."""
    status, body, headers = await api.call("GET", f"{api.base}/vif-peers")
    assert status in (404, 405)
    assert body["error_code"] == "APIGW.0101"
    assert headers["X-Request-Id"] == body["request_id"]
