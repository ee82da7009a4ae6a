"""Fidelity of the simulator against the official SDK (`huaweicloudsdkdc` DcClient, AK/SK).

The real client drives `run_in_thread(SimConfig(...).with_signer())`: if the simulator's
pages, models, error bodies, headers or signature checks drift from what the SDK expects,
these tests fail. bulkdel's own signer is checked against the same verifier, and the two
signers are compared byte for byte on arbitrary paths and queries.

Needs the `test` extra: huaweicloudsdkdc (and python-dateutil, which the SDK uses to parse
`create_time`; without it the SDK warns and the warning fails the run).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

pytest.importorskip("huaweicloudsdkdc", reason="the official SDK is in the `test` extra")

import aiohttp
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import (
    ClientRequestException,
    ServerResponseException,
)
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from huaweicloudsdkdc.v3 import (
    DcClient,
    DeleteVifPeerRequest,
    ListVirtualInterfacesRequest,
    ShowVirtualInterfaceRequest,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdel.auth import AkSkAuth
from bulkdel.models import VifInfo
from bulkdel.signer import parse_sdk_date, sign_request, verify_request
from bulkdel.simulator import (
    LAST_PEER_ERROR_CODE,
    NOT_FOUND_ERROR_CODE,
    SimConfig,
    SimHandle,
    run_in_thread,
)

# The SDK signs with datetime.utcnow(), deprecated from Python 3.12; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:datetime.datetime.utcnow:DeprecationWarning:huaweicloudsdkcore"
)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
INTERFACES = 23
SEED = 11
AUTH_FAILED_CODE = "APIGW.0301"
# Peer IDs that need percent-encoding in a path: the SDK's quoting must verify here.
ODD_PEER_IDS = ["a b", "x/y", "ü-ñ", "a+b", "a%2Fb", "~*'()!", "a;b,c=d&e?f#g", "{x}"]


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    """A fresh AK/SK-verifying simulator per test (deletes change its fleet)."""
    with run_in_thread(SimConfig(interfaces=INTERFACES, seed=SEED).with_signer()) as handle:
        yield handle


def dc_client(sim: SimHandle, *, sk: str | None = None) -> Any:
    """The official sync client, pointed at the simulator, exactly as reference §9 builds it."""
    creds = BasicCredentials(ak=sim.ak, sk=sk or sim.sk, project_id=sim.project_id)
    return (
        DcClient.new_builder()
        .with_http_config(HttpConfig.get_default_config())
        .with_credentials(creds)
        .with_endpoints([sim.endpoint])
        .build()
    )


def interfaces_by_peer_count(sim: SimHandle, count: int) -> list[VifInfo]:
    """The simulator's interfaces that list exactly `count` peers."""
    found = [v for v in sim.state.vif_infos() if len(v.peers) == count]
    assert found, f"seed {SEED} must give interfaces with {count} peer(s)"
    return found


# --- listing ---------------------------------------------------------------------------------


def test_sdk_pages_through_every_interface_with_full_peer_models(sim: SimHandle) -> None:
    """With limit < fleet size the SDK follows next_marker and sees every interface and peer."""
    client = dc_client(sim)
    limit = 4
    pages: list[Any] = []
    marker = None
    while True:
        request = ListVirtualInterfacesRequest(limit=limit, marker=marker)
        resp = client.list_virtual_interfaces(request)
        pages.append(resp)
        marker = resp.page_info.next_marker
        if not marker:
            break
        assert len(pages) <= INTERFACES, "next_marker never ran out"
    assert len(pages) == math.ceil(INTERFACES / limit)
    for page in pages:
        assert page.status_code == 200
        assert HEX32.match(page.request_id)
        assert page.page_info.current_count == len(page.virtual_interfaces) <= limit
    seen = [vif for page in pages for vif in page.virtual_interfaces]
    assert [v.id for v in seen] == sim.state.vif_ids()
    for vif in seen:
        doc = sim.state.vif(vif.id)
        assert doc is not None
        # Every field the simulator sends lands in the SDK model with the same value.
        peers = vif.vif_peers
        assert [p.to_dict() for p in peers] == doc["vif_peers"]
        assert {(p.id, p.address_family, p.vif_id) for p in peers} == {
            (p["id"], p["address_family"], vif.id) for p in doc["vif_peers"]
        }
        assert all(p.tenant_id == sim.project_id for p in peers)
        # The SDK parses the timestamps (a format it cannot parse would stay a string).
        assert isinstance(vif.create_time, datetime)
        assert vif.create_time.tzinfo is not None
        assert vif.status == doc["status"]
    assert sum(len(v.vif_peers) for v in seen) == sim.state.peer_count
    assert sim.stats()["list_requests"] == len(pages)


def test_sdk_multi_valued_query_params_are_signed_and_accepted(sim: SimHandle) -> None:
    """Repeated `id`, multi `fields`/`sort_dir`, csv `enterprise_project_id`: signed, verified."""
    wanted = sim.state.vif_ids()[5:8]
    request = ListVirtualInterfacesRequest(
        limit=2,
        id=list(reversed(wanted)),
        fields=["id", "name", "vif_peers"],
        sort_dir=["asc"],
        enterprise_project_id=["0", "a b"],
    )
    first = dc_client(sim).list_virtual_interfaces(request)
    assert [v.id for v in first.virtual_interfaces] == wanted[:2]
    assert first.page_info.next_marker == wanted[1]
    request.marker = first.page_info.next_marker
    second = dc_client(sim).list_virtual_interfaces(request)
    assert [v.id for v in second.virtual_interfaces] == wanted[2:]
    assert not second.page_info.next_marker


@pytest.mark.parametrize("marker", ["a b", "x+y/z", "ü", "~*'()!&=", ""])
def test_sdk_markers_needing_encoding_are_accepted(sim: SimHandle, marker: str) -> None:
    """Markers the SDK must percent-encode in the query still pass the signature check."""
    request = ListVirtualInterfacesRequest(limit=3, marker=marker)
    resp = dc_client(sim).list_virtual_interfaces(request)
    assert resp.status_code == 200
    assert resp.page_info.current_count == len(resp.virtual_interfaces)


# --- delete ----------------------------------------------------------------------------------


def test_sdk_deletes_a_non_last_peer(sim: SimHandle) -> None:
    """A DELETE of one of two peers is a 204 DeleteVifPeerResponse and the peer is gone."""
    vif = interfaces_by_peer_count(sim, 2)[0]
    victim, keeper = vif.peers[-1], vif.peers[0]
    client = dc_client(sim)
    resp = client.delete_vif_peer(DeleteVifPeerRequest(vif_peer_id=victim.id))
    assert resp.status_code == 204
    assert sim.state.owner_of(victim.id) is None
    shown = client.show_virtual_interface(ShowVirtualInterfaceRequest(virtual_interface_id=vif.id))
    assert [p.id for p in shown.virtual_interface.vif_peers] == [keeper.id]
    assert sim.stats()["deletes_applied"] == 1


def test_sdk_surfaces_the_last_peer_refusal(sim: SimHandle) -> None:
    """Deleting a last peer raises ClientRequestException 400 with the simulator's code."""
    vif = interfaces_by_peer_count(sim, 1)[0]
    peer = vif.peers[0]
    with pytest.raises(ClientRequestException) as caught:
        dc_client(sim).delete_vif_peer(DeleteVifPeerRequest(vif_peer_id=peer.id))
    exc = caught.value
    assert (exc.status_code, exc.error_code) == (400, LAST_PEER_ERROR_CODE)
    assert peer.id in exc.error_msg
    # The SDK reads the request ID only from the X-Request-Id response header.
    assert HEX32.match(exc.request_id)
    assert sim.state.owner_of(peer.id) == vif.id


def test_sdk_surfaces_an_unknown_peer_as_not_found(sim: SimHandle) -> None:
    """An unknown (well-formed) peer ID raises ClientRequestException 400 DC.0002."""
    missing = "68250543-0a13-4ac7-aa36-d018856ac640"
    assert sim.state.owner_of(missing) is None
    with pytest.raises(ClientRequestException) as caught:
        dc_client(sim).delete_vif_peer(DeleteVifPeerRequest(vif_peer_id=missing))
    exc = caught.value
    assert (exc.status_code, exc.error_code) == (400, NOT_FOUND_ERROR_CODE)
    assert missing in exc.error_msg
    assert HEX32.match(exc.request_id)


@pytest.mark.parametrize("peer_id", ODD_PEER_IDS)
def test_sdk_path_encoding_is_verified_like_the_gateway(sim: SimHandle, peer_id: str) -> None:
    """Peer IDs the SDK percent-encodes reach the handler (DC.0002), not a 401 or a 404."""
    with pytest.raises(ClientRequestException) as caught:
        dc_client(sim).delete_vif_peer(DeleteVifPeerRequest(vif_peer_id=peer_id))
    assert (caught.value.status_code, caught.value.error_code) == (400, NOT_FOUND_ERROR_CODE)
    assert peer_id in caught.value.error_msg


def test_sdk_server_error_is_a_server_response_exception() -> None:
    """An injected 503 reaches the SDK as ServerResponseException with the DC code."""
    config = SimConfig(interfaces=3, seed=SEED, fault_rate=1.0, fault_mix={"5xx": 1.0})
    with run_in_thread(config.with_signer()) as handle:
        peer = handle.state.peer_ids()[0]
        with pytest.raises(ServerResponseException) as caught:
            dc_client(handle).delete_vif_peer(DeleteVifPeerRequest(vif_peer_id=peer))
        assert (caught.value.status_code, caught.value.error_code) == (503, "DC.0003")
        assert HEX32.match(caught.value.request_id)
        assert handle.state.owner_of(peer) is not None


def test_sdk_throttled_delete_is_a_429() -> None:
    """Over the rate limit the SDK (retry_times 0, urllib3 Retry on 429) raises status 429."""
    config = SimConfig(interfaces=3, seed=SEED, rate_limit=1, retry_after=None)
    with run_in_thread(config.with_signer()) as handle:
        client = dc_client(handle)
        unknown = "00000000-0000-4000-8000-000000000000"
        with pytest.raises(ClientRequestException) as first:
            client.delete_vif_peer(DeleteVifPeerRequest(vif_peer_id=unknown))
        assert first.value.status_code == 400
        with pytest.raises(ClientRequestException) as second:
            client.delete_vif_peer(DeleteVifPeerRequest(vif_peer_id=unknown))
        # For DELETE the SDK's urllib3 retry swallows the body: only the status survives.
        assert second.value.status_code == 429
        assert handle.stats()["throttled"] == 1


# --- authentication ---------------------------------------------------------------------------


def test_sdk_with_a_wrong_sk_gets_401_apigw_0301(sim: SimHandle) -> None:
    """A wrong SK is refused 401 APIGW.0301, the SDK raises, and nothing is deleted."""
    wrong = "W" * 40
    vif = interfaces_by_peer_count(sim, 2)[0]
    client = dc_client(sim, sk=wrong)
    with pytest.raises(ClientRequestException) as caught:
        client.delete_vif_peer(DeleteVifPeerRequest(vif_peer_id=vif.peers[-1].id))
    exc = caught.value
    assert (exc.status_code, exc.error_code) == (401, AUTH_FAILED_CODE)
    assert "signature" in exc.error_msg
    assert HEX32.match(exc.request_id)
    assert sim.sk not in str(exc)
    assert wrong not in str(exc)
    assert sim.state.owner_of(vif.peers[-1].id) == vif.id
    with pytest.raises(ClientRequestException) as listed:
        client.list_virtual_interfaces(ListVirtualInterfacesRequest(limit=2))
    assert (listed.value.status_code, listed.value.error_code) == (401, AUTH_FAILED_CODE)


async def _send_signed(
    sim: SimHandle, method: str, signed_url: str, sent_url: str
) -> tuple[int, dict[str, Any]]:
    """Sign `signed_url` with bulkdel's AkSkAuth, send the request to `sent_url`."""
    headers: dict[str, str] = {}
    await AkSkAuth(sim.ak, sim.sk, sim.project_id).apply(method, signed_url, headers, b"")
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sent_url, headers=headers) as resp,
    ):
        body = await resp.json() if resp.content_type == "application/json" else {}
        return resp.status, body


async def test_bulkdel_signer_is_accepted_and_a_tampered_path_refused(sim: SimHandle) -> None:
    """bulkdel's AK/SK headers pass the verifier; the same headers on another path get 401."""
    two = interfaces_by_peer_count(sim, 2)
    signed_peer, other_peer = two[0].peers[-1].id, two[1].peers[-1].id
    base = f"{sim.endpoint}/v3/{sim.project_id}/dcaas"
    status, body = await _send_signed(
        sim, "DELETE", f"{base}/vif-peers/{signed_peer}", f"{base}/vif-peers/{other_peer}"
    )
    assert (status, body.get("error_code")) == (401, AUTH_FAILED_CODE)
    assert sim.state.owner_of(other_peer) == two[1].id
    url = f"{base}/vif-peers/{signed_peer}"
    assert (await _send_signed(sim, "DELETE", url, url))[0] == 204
    assert sim.state.owner_of(signed_peer) is None


async def test_bulkdel_signed_list_query_is_accepted_and_tampering_refused(
    sim: SimHandle,
) -> None:
    """A GET with limit/marker/ids signed by bulkdel lists; a changed query value is a 401."""
    ids = sim.state.vif_ids()
    base = f"{sim.endpoint}/v3/{sim.project_id}/dcaas/virtual-interfaces"
    url = f"{base}?limit=2&marker={ids[0]}&id={ids[3]}&id={ids[2]}&id={ids[1]}"
    status, body = await _send_signed(sim, "GET", url, url)
    assert status == 200
    assert [v["id"] for v in body["virtual_interfaces"]] == ids[1:3]
    tampered = url.replace("limit=2", "limit=3")
    status, body = await _send_signed(sim, "GET", url, tampered)
    assert (status, body.get("error_code")) == (401, AUTH_FAILED_CODE)


# --- the two signers, request by request -----------------------------------------------------

_DATE = "20240101T000000Z"
_HOST = "127.0.0.1:8080"
_PROJECT = "0605768a3300d5762f82c01180692873"
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=120, deadline=None)
@given(
    method=st.sampled_from(["GET", "DELETE"]),
    segment=_text,
    query=st.lists(
        st.tuples(st.sampled_from(["id", "marker", "limit", "fields", "sort_key"]), _text),
        max_size=4,
    ),
)
def test_sdk_and_bulkdel_signatures_agree(
    method: str, segment: str, query: list[tuple[str, str]]
) -> None:
    """For any path segment and query, the SDK's Authorization equals bulkdel's and verifies."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "huaweicloud-usdk-python/3.0",
        "X-Project-Id": _PROJECT,
        "X-Sdk-Date": _DATE,
    }
    # The SDK quotes path parameters with safe='' before signing (client.py).
    path = f"/v3/{_PROJECT}/dcaas/vif-peers/{quote(segment, safe='')}"
    request = SdkRequest(
        method=method,
        schema="http",
        host=_HOST,
        resource_path=path,
        query_params=list(query),
        header_params=dict(headers),
        body="",
    )
    creds = BasicCredentials(ak="AK_EXAMPLE", sk="SK_EXAMPLE", project_id=_PROJECT)
    Signer(creds).sign(request)
    sdk_auth = request.header_params["Authorization"]
    # request.uri is what goes on the wire: the path plus the SDK's canonical query.
    wire = urlsplit(f"http://{_HOST}{request.uri}")
    ours = sign_request(
        method, f"http://{_HOST}{request.uri}", headers, b"", "AK_EXAMPLE", "SK_EXAMPLE", _DATE
    )
    assert ours["Authorization"] == sdk_auth
    assert ours["Host"] == request.header_params["Host"]
    verdict = verify_request(
        method,
        wire.path,
        wire.query,
        request.header_params,
        b"",
        secrets_by_ak={"AK_EXAMPLE": "SK_EXAMPLE"},
        now=parse_sdk_date(_DATE).astimezone(UTC),
    )
    assert verdict.ok, verdict.detail
