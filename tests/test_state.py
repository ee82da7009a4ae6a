"""Live state: paging, retries, refusals and hostile listings (fake lister, fake clock)."""

from __future__ import annotations

from typing import Any

import pytest

from bulkdel.clock import FakeClock
from bulkdel.errors import ApiError, AuthError, InputError
from bulkdel.models import ApiResponse
from bulkdel.state import build_state, fetch_listing, load_state_file, vifs_from_listing

Page = tuple[ApiResponse, dict[str, Any] | None]


def _vif(n: int, peers: int = 1) -> dict[str, Any]:
    vid = f"00000000-0000-4000-8000-{n:012d}"
    return {
        "id": vid,
        "vif_peers": [
            {
                "id": f"{n:08d}-0000-4000-8000-{k:012d}",
                "address_family": "ipv4" if k == 0 else "ipv6",
                "vif_id": vid,
            }
            for k in range(peers)
        ],
    }


class ScriptedLister:
    """Answers list calls from a script; records the markers asked for."""

    def __init__(self, pages: list[Page], *, can_refresh: bool = False) -> None:
        self.pages = pages
        self.markers: list[str | None] = []
        self._can_refresh = can_refresh
        self.refreshes = 0

    @property
    def can_refresh(self) -> bool:
        return self._can_refresh

    async def list_virtual_interfaces(
        self, *, limit: int = 2000, marker: str | None = None
    ) -> Page:
        self.markers.append(marker)
        return self.pages.pop(0)

    async def refresh_auth(self) -> None:
        self.refreshes += 1


def _ok(vifs: list[dict[str, Any]], next_marker: str = "") -> Page:
    return ApiResponse(status=200), {
        "virtual_interfaces": vifs,
        "page_info": {"next_marker": next_marker},
    }


async def test_follows_next_marker_until_empty() -> None:
    """Pages are fetched with each next_marker until it is empty."""
    lister = ScriptedLister([_ok([_vif(1), _vif(2)], "m2"), _ok([_vif(3)], "m3"), _ok([_vif(4)])])
    doc = await fetch_listing(lister, FakeClock())
    assert [v["id"][-1] for v in doc["virtual_interfaces"]] == ["1", "2", "3", "4"]
    assert lister.markers == [None, "m2", "m3"]


async def test_retries_5xx_and_429_then_succeeds() -> None:
    """A 503 and a 429 are retried after backoff; the page then arrives."""
    lister = ScriptedLister(
        [
            (ApiResponse(status=503), None),
            (ApiResponse(status=429, retry_after_s=2.0), None),
            _ok([_vif(1)]),
        ]
    )
    clock = FakeClock()
    doc = await fetch_listing(lister, clock)
    assert len(doc["virtual_interfaces"]) == 1
    assert clock.sleeps[-1] >= 2.0


async def test_gives_up_after_max_attempts() -> None:
    """Persistent transport errors end in ApiError that says nothing was deleted."""
    lister = ScriptedLister([(ApiResponse(status=None, transport_error="timeout"), None)] * 3)
    with pytest.raises(ApiError, match="nothing was deleted"):
        await fetch_listing(lister, FakeClock(), max_attempts=3)


async def test_403_is_an_auth_error() -> None:
    """A refused listing is an AuthError (exit 4)."""
    lister = ScriptedLister([(ApiResponse(status=403, error_code="APIGW.0302"), None)])
    with pytest.raises(AuthError, match=r"APIGW\.0302"):
        await fetch_listing(lister, FakeClock())


async def test_401_refreshes_when_possible() -> None:
    """A 401 with a refreshable credential refreshes once and retries."""
    lister = ScriptedLister([(ApiResponse(status=401), None), _ok([_vif(1)])], can_refresh=True)
    await fetch_listing(lister, FakeClock())
    assert lister.refreshes == 1


async def test_repeating_marker_is_refused() -> None:
    """A server that pages in a loop is detected instead of listing forever."""
    lister = ScriptedLister(
        [_ok([_vif(1)], "same"), _ok([_vif(2)], "same"), _ok([_vif(3)], "same")]
    )
    with pytest.raises(ApiError, match="repeats page marker"):
        await fetch_listing(lister, FakeClock())


async def test_body_without_interfaces_is_refused() -> None:
    """A 200 that is not a listing (wrong endpoint) is an ApiError, not an empty fleet."""
    lister = ScriptedLister([(ApiResponse(status=200), {"something": []})])
    with pytest.raises(ApiError, match="virtual_interfaces"):
        await fetch_listing(lister, FakeClock())


def test_vifs_from_listing_normalises_ids_and_families() -> None:
    """IDs are lowercased and peers carry their interface's ID."""
    doc = {
        "virtual_interfaces": [{"id": "AA", "vif_peers": [{"id": "BB", "address_family": "IPv6"}]}]
    }
    (vif,) = vifs_from_listing(doc)
    assert vif.id == "aa"
    assert (vif.peers[0].id, vif.peers[0].vif_id, vif.peers[0].address_family) == (
        "bb",
        "aa",
        "ipv6",
    )


def test_state_digest_is_order_independent() -> None:
    """The same fleet listed in another order has the same digest."""
    a = build_state(vifs_from_listing({"virtual_interfaces": [_vif(1, 2), _vif(2)]}))
    b = build_state(vifs_from_listing({"virtual_interfaces": [_vif(2), _vif(1, 2)]}))
    assert a.digest == b.digest
    c = build_state(vifs_from_listing({"virtual_interfaces": [_vif(2), _vif(1, 1)]}))
    assert c.digest != a.digest


def test_state_file_errors_name_the_file(tmp_path: Any) -> None:
    """A broken --state file is an InputError naming it."""
    bad = tmp_path / "state.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"state\.json"):
        load_state_file(str(bad))
    bad.write_text('{"virtual_interfaces": [{"name": "no id"}]}')
    with pytest.raises(InputError, match=r"virtual_interfaces\[0\]"):
        load_state_file(str(bad))


def test_streamed_state_file_equals_the_whole_document_reader(tmp_path: Any) -> None:
    """read_state_file (streamed) gives exactly what load_state_file gives."""
    from bulkdel.simulator import generate_fleet
    from bulkdel.state import read_state_file

    path = tmp_path / "state.json"
    import json

    path.write_text(json.dumps(generate_fleet(50, seed=9).to_listing(), indent=1))
    assert read_state_file(str(path)) == load_state_file(str(path))[0]


def test_vif_peers_of_the_wrong_type_is_an_input_error(tmp_path: Any) -> None:
    """`vif_peers` that is not a list is reported, not a crash."""
    from bulkdel.state import read_state_file

    path = tmp_path / "state.json"
    path.write_text('{"virtual_interfaces": [{"id": "x", "vif_peers": 5}]}')
    with pytest.raises(InputError, match="vif_peers"):
        read_state_file(str(path))
    with pytest.raises(InputError, match="vif_peers"):
        load_state_file(str(path))


async def test_malformed_live_listing_is_an_api_error() -> None:
    """A live listing with a broken interface is the server's fault: ApiError, not InputError."""
    from bulkdel.state import fetch_state

    lister = ScriptedLister([(ApiResponse(status=200), {"virtual_interfaces": [{"name": "x"}]})])
    with pytest.raises(ApiError, match="live listing"):
        await fetch_state(lister, FakeClock())
