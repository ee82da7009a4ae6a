"""Live state: paging, retries, refusals and hostile listings (fake lister, fake clock)."""

from __future__ import annotations

from typing import Any

import pytest

from bulkdel.clock import FakeClock
from bulkdel.errors import ApiError, AuthError, InputError
from bulkdel.models import ApiResponse, Inventory, LiveState, Requested
from bulkdel.planner import plan, summarize
from bulkdel.state import (
    build_state,
    fetch_listing,
    load_state_file,
    plan_state_file,
    read_state_file,
    summarize_state_file,
    vifs_from_listing,
)

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


# --- streamed state files ---------------------------------------------------------------------


def _fleet_file(tmp_path: Any, *, shuffle: bool = False, indent: int | None = 1) -> Any:
    """A saved listing of a simulated fleet (API order: ascending IDs), as `bulkdel export`."""
    import json
    import random

    from bulkdel.simulator import generate_fleet

    listing = generate_fleet(60, seed=4).to_listing()
    if shuffle:
        random.Random(1).shuffle(listing["virtual_interfaces"])
    path = tmp_path / "state.json"
    path.write_text(json.dumps(listing, indent=indent))
    return path


def _inventory_of(state: LiveState, every: int) -> Inventory:
    """Every `every`-th listed peer, plus one the listing does not have."""
    peers = [p.id for v in state.vifs for p in v.peers][::every]
    reqs = tuple(Requested(p, n) for n, p in enumerate([*peers, "0" * 36], start=1))
    return Inventory("inv.csv", "0" * 64, reqs)


@pytest.mark.parametrize(("shuffle", "indent"), [(False, 1), (True, None), (False, None)])
def test_planning_a_state_file_as_it_streams_is_planning_it_whole(
    tmp_path: Any, shuffle: bool, indent: int | None
) -> None:
    """plan_state_file and its summary match plan() over the whole file, digest included."""
    path = _fleet_file(tmp_path, shuffle=shuffle, indent=indent)
    whole = load_state_file(str(path))[0]
    for every in (1, 2, 3):
        inventory = _inventory_of(whole, every)
        want = plan(inventory, whole)
        assert plan_state_file(inventory, str(path)) == want
        assert summarize_state_file(inventory, str(path), protected_limit=3) == summarize(
            want, protected_limit=3
        )


def test_a_listing_the_planner_refuses_is_planned_whole(tmp_path: Any) -> None:
    """A peer listed by two interfaces is planned over the whole listing, as plan() does."""
    import json

    doc = {
        "virtual_interfaces": [
            {"id": "v1", "vif_peers": [{"id": "a"}, {"id": "b"}]},
            {"id": "v2", "vif_peers": [{"id": "a", "address_family": "ipv6"}]},
        ]
    }
    path = tmp_path / "state.json"
    path.write_text(json.dumps(doc))
    inventory = Inventory("inv.csv", "", (Requested("a", 1), Requested("b", 2)))
    want = plan(inventory, load_state_file(str(path))[0])
    assert plan_state_file(inventory, str(path)) == want
    assert [d.vif_id for d in want.decisions] == ["v2", "v1"]  # the last listing owns `a`


def test_planning_a_broken_state_file_reports_it(tmp_path: Any) -> None:
    """A bad interface deep in the file is the same InputError as reading it whole."""
    path = tmp_path / "state.json"
    path.write_text('{"virtual_interfaces": [{"id": "v1", "vif_peers": []}, {"name": "x"}]}')
    inventory = Inventory("inv.csv", "", (Requested("a", 1),))
    with pytest.raises(InputError, match=r"virtual_interfaces\[1\]"):
        plan_state_file(inventory, str(path))
    with pytest.raises(InputError, match=r"virtual_interfaces\[1\]"):
        summarize_state_file(inventory, str(path))


@pytest.mark.parametrize("shuffle", [False, True])
def test_state_file_of_some_peers_keeps_only_their_interfaces(tmp_path: Any, shuffle: bool) -> None:
    """With peers, only interfaces listing one are kept; the digest is still the whole one's."""
    path = _fleet_file(tmp_path, shuffle=shuffle)
    whole = load_state_file(str(path))[0]
    wanted = frozenset(p.id for p in whole.vifs[3].peers[:1]) | {whole.vifs[7].peers[-1].id}
    some = read_state_file(str(path), peers=wanted)
    assert {v.id for v in some.vifs} == {whole.vifs[3].id, whole.vifs[7].id}
    assert set(some.vifs) <= set(whole.vifs)
    assert some.digest == whole.digest
    assert read_state_file(str(path), peers=wanted, digest=False).digest == ""
    inventory = Inventory("inv.csv", "", tuple(Requested(p, 1) for p in sorted(wanted)))
    assert plan(inventory, some) == plan(inventory, whole)


def test_described_interfaces_build_the_streamed_state(tmp_path: Any) -> None:
    """Described interfaces (as a child process sends them) build exactly the streamed state."""
    from bulkdel.state import describe_state_file, state_of

    path = _fleet_file(tmp_path, shuffle=False)
    described = describe_state_file(str(path))
    assert described is not None
    assert state_of(described) == read_state_file(str(path), digest=False)


def test_a_listing_that_does_not_stream_is_not_described(tmp_path: Any) -> None:
    """Anything unusual is left to read_state_file, which reports it."""
    from bulkdel.state import describe_state_file

    path = tmp_path / "state.json"
    path.write_text('{"virtual_interfaces": [{"id": "v1", "vif_peers": []}, {"name": "x"}]}')
    assert describe_state_file(str(path)) is None
    assert describe_state_file(str(tmp_path / "missing.json")) is None
