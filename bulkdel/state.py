"""Live state: every virtual interface with its peers, from the API or a saved listing."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import structlog

from bulkdel.clock import Clock
from bulkdel.errors import ApiError, AuthError, InputError
from bulkdel.gcpause import gc_paused
from bulkdel.jsonstream import NotStreamable, array_items
from bulkdel.models import Action, ApiResponse, Inventory, Keep, LiveState, PeerInfo, Plan, VifInfo
from bulkdel.planner import (
    PlanBuilder,
    PlanSummary,
    StateDigest,
    plan,
    state_digest,
    summarize,
)
from bulkdel.policy import Backoff, classify, retry_delay

log = structlog.get_logger("bulkdel.state")

PAGE_LIMIT = 2000
#: A listing that never ends (a repeating marker) is cut off here.
MAX_PAGES = 100_000


class Lister(Protocol):
    """The part of the client that lists interfaces."""

    @property
    def can_refresh(self) -> bool:
        """Whether a 401 can be answered with a new credential."""
        ...

    async def list_virtual_interfaces(
        self, *, limit: int = PAGE_LIMIT, marker: str | None = None
    ) -> tuple[ApiResponse, dict[str, Any] | None]:
        """GET one page."""
        ...

    async def refresh_auth(self) -> None:
        """Fetch a new credential."""
        ...


def vifs_from_listing(doc: Mapping[str, Any], source: str = "listing") -> list[VifInfo]:
    """Turn a ListVirtualInterfaces body into VifInfo records (pure)."""
    items = doc.get("virtual_interfaces")
    if not isinstance(items, list):
        raise InputError(
            "not a ListVirtualInterfaces response: no `virtual_interfaces` array",
            file=source,
            fix="pass a file written by `bulkdel export`",
        )
    builder = _VifBuilder()
    with gc_paused():
        for n, item in enumerate(items):
            if not builder.add(item):
                raise InputError(
                    f"virtual interface #{n} is not an object with a string `id` and a "
                    "`vif_peers` list",
                    file=source,
                    column=f"virtual_interfaces[{n}]",
                    fix="pass an unmodified listing from `bulkdel export`",
                )
    return builder.vifs


class _VifBuilder:
    """Turns listed interface objects into VifInfo records, one at a time."""

    def __init__(self) -> None:
        self.vifs: list[VifInfo] = []
        # A million peers repeat a handful of families and statuses: one string object for
        # each distinct value saves ~100 MB. Non-string values keep their str() conversion.
        self.families: dict[str, str] = {}
        self.statuses: dict[str, str] = {}

    def parse(self, item: object) -> _Listed | None:
        """(interface ID, peer IDs, peers) of `item`, IDs lowercased; None if it is malformed.

        Peers that are not objects with a string `id` are left out (as the API never sends).
        """
        if not isinstance(item, dict) or not isinstance(vif_id := item.get("id"), str):
            return None
        peers = item.get("vif_peers") or []
        if not isinstance(peers, list):
            return None
        try:  # the common case in one pass: of JSON values only an object has ["id"] and
            ids = [p["id"].lower() for p in peers]  # only a string has .lower()
        except (TypeError, KeyError, AttributeError):
            peers = [p for p in peers if isinstance(p, dict) and isinstance(p.get("id"), str)]
            ids = [p["id"].lower() for p in peers]
        return vif_id.lower(), ids, peers

    def families_of(self, peers: list[dict[str, Any]]) -> list[str]:
        """The lowercase address family of each peer `parse` kept (absent: ipv4)."""
        families = self.families
        out = []
        for p in peers:
            family = p.get("address_family") or "ipv4"
            if type(family) is str:
                out.append(families.get(family) or families.setdefault(family, family.lower()))
            else:
                out.append(str(family).lower())
        return out

    def add(self, item: object) -> bool:
        """Record the interface `item`; False (and nothing recorded) if it has no string id."""
        listed = self.parse(item)
        if listed is None:
            return False
        self.record(item, listed)
        return True

    def record(self, item: Any, listed: _Listed) -> None:
        """Record an interface `parse` accepted."""
        self.build(self.describe(item, listed))

    def describe(self, item: Any, listed: _Listed) -> Described:
        """An interface `parse` accepted, in the plain values `build` makes a VifInfo of."""
        vif_id, ids, raw = listed
        statuses = self.statuses  # one string object per status, as `build` keeps them
        peer_statuses = []
        for p in raw:
            status = str(p.get("status") or "")
            peer_statuses.append(statuses.setdefault(status, status))
        status = str(item.get("status") or "")
        status = statuses.setdefault(status, status)
        return (
            vif_id,
            ids,
            self.families_of(raw),
            peer_statuses,
            str(item.get("name") or ""),
            status,
        )

    def build(self, described: Described) -> None:
        """Record a described interface."""
        statuses = self.statuses
        vif_id, ids, families, peer_statuses, name, status = described
        peers = tuple(
            PeerInfo(pid, vif_id, family, statuses.setdefault(st, st))
            for pid, family, st in zip(ids, families, peer_statuses, strict=True)
        )
        self.vifs.append(VifInfo(vif_id, peers, name, statuses.setdefault(status, status)))


_Listed = tuple[str, list[str], list[dict[str, Any]]]
#: An interface in plain values (cheap to pickle): its ID, its peers' IDs, address families
#: and statuses, its name and status.
Described = tuple[str, list[str], list[str], list[str], str, str]


def describe_state_file(path: str) -> list[Described] | None:
    """Every interface of a saved listing, described; None if it does not stream.

    `read_state_file` reads such a file whole (and says what is wrong with it, if anything).
    """
    builder = _VifBuilder()
    try:
        with gc_paused(), open(path, "rb") as fh:
            return [builder.describe(item, listed) for item, listed in _interfaces(fh)]
    except (NotStreamable, OSError):
        return None


def state_of(described: Iterable[Described]) -> LiveState:
    """The LiveState of described interfaces, without a digest (what a run needs)."""
    builder = _VifBuilder()
    with gc_paused():
        for one in described:
            builder.build(one)
    return LiveState(tuple(builder.vifs), "")


def build_state(vifs: Iterable[VifInfo]) -> LiveState:
    """Freeze interfaces into a LiveState with its digest."""
    vif_tuple = tuple(vifs)
    return LiveState(vifs=vif_tuple, digest=state_digest(vif_tuple))


def load_state_file(path: str) -> tuple[LiveState, dict[str, Any]]:
    """Read a saved ListVirtualInterfaces JSON (from `bulkdel export`), whole."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read state file: {exc.strerror}", file=path, fix="check the --state path"
        ) from None
    try:
        with gc_paused():
            doc = json.loads(raw)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(
            f"state file is not valid JSON ({exc})",
            file=path,
            line=line,
            fix="pass a file written by `bulkdel export`",
        ) from None
    del raw  # the file's bytes are as big as the file: free them before building records
    if not isinstance(doc, dict):
        raise InputError(
            "state file must be a JSON object",
            file=path,
            fix="pass a file written by `bulkdel export`",
        )
    return build_state(vifs_from_listing(doc, path)), doc


def read_state_file(
    path: str, *, peers: AbstractSet[str] | None = None, digest: bool = True
) -> LiveState:
    """`load_state_file(path)[0]`, streamed: the JSON document is never held whole.

    With `peers`, only the interfaces that list one of them are kept: all that planning those
    peers needs (a replay of a few thousand peers reads a 600k-interface listing into a few MB).
    The digest covers every interface; `digest=False` leaves it "" (a run records none).
    Anything unusual (invalid JSON, a bad interface, a repeated key) is left to
    load_state_file, which reports it exactly as always.
    """
    builder = _VifBuilder()
    hashed = StateDigest()
    account = hashed.add if digest else None
    try:
        with gc_paused(), open(path, "rb") as fh:
            for item, listed in _interfaces(fh):
                if account is not None:
                    account(listed[0], listed[1])
                if peers is None or not peers.isdisjoint(listed[1]):
                    builder.record(item, listed)
            hexdigest = "" if not digest else hashed.hexdigest() or _sorted_digest(fh)
        return LiveState(tuple(builder.vifs), hexdigest)
    except (NotStreamable, OSError):
        pass
    state = load_state_file(path)[0]
    vifs = state.vifs
    if peers is not None:
        vifs = tuple(v for v in vifs if not peers.isdisjoint([p.id for p in v.peers]))
    return LiveState(vifs, state.digest if digest else "")


def plan_state_file(
    inventory: Inventory,
    path: str,
    *,
    keep: Keep = Keep.IPV4,
    skip: Mapping[str, str] | None = None,
) -> Plan:
    """`plan(inventory, read_state_file(path))`, planned while the file streams by.

    Neither the document nor its interfaces are held: a million peers over 600k interfaces
    plan in a few hundred MB. Listings the planner cannot take one interface at a time (a
    peer or interface listed twice) and unusual files go the whole-listing way.
    """
    streamed = _stream_plan(inventory, path, keep, skip)
    if isinstance(streamed, Plan):
        return streamed
    builder, digest = streamed
    with gc_paused():
        return builder.plan(digest)


def summarize_state_file(
    inventory: Inventory,
    path: str,
    *,
    keep: Keep = Keep.IPV4,
    skip: Mapping[str, str] | None = None,
    protected_limit: int | None = None,
) -> PlanSummary:
    """`summarize(plan_state_file(...))` without a Decision per peer (what `bulkdel plan` shows)."""
    streamed = _stream_plan(inventory, path, keep, skip)
    if isinstance(streamed, Plan):
        return summarize(streamed, protected_limit=protected_limit)
    builder, digest = streamed
    with gc_paused():
        return builder.summary(digest, protected_limit=protected_limit)


def _stream_plan(
    inventory: Inventory, path: str, keep: Keep, skip: Mapping[str, str] | None
) -> tuple[PlanBuilder, str] | Plan:
    builder = PlanBuilder(inventory, keep=keep, skip=skip)
    try:
        with gc_paused(), open(path, "rb") as fh:
            digest = _feed(fh, builder)
    except (NotStreamable, OSError):
        digest = None
    if digest is not None:
        return builder, digest
    requested = frozenset(r.peer_id for r in inventory.requested)
    return plan(inventory, read_state_file(path, peers=requested), keep=keep, skip=skip)


def _feed(fh: BinaryIO, builder: PlanBuilder) -> str | None:
    """Plan the listing in `fh`; its digest, or None when the builder refuses it (or an item)."""
    digest = StateDigest()
    vifs = _VifBuilder()
    parse, families_of, add, account = vifs.parse, vifs.families_of, builder.add, digest.add
    for item in array_items(fh, "virtual_interfaces"):  # a million peers' hot loop: kept flat
        listed = parse(item)
        if listed is None or not add(listed[0], listed[1], families_of(listed[2])):
            return None
        account(listed[0], listed[1])
    return digest.hexdigest() or _sorted_digest(fh)


def _sorted_digest(fh: BinaryIO) -> str:
    """The digest of a listing whose interfaces are not in ID order: a second, sorting pass."""
    fh.seek(0)
    digest = StateDigest(in_order=False)
    for _item, (vif_id, peer_ids, _peers) in _interfaces(fh):
        digest.add(vif_id, peer_ids)
    return digest.hexdigest() or ""


def _interfaces(fh: BinaryIO) -> Iterator[tuple[Any, _Listed]]:
    """Each listed interface with what `_VifBuilder.parse` makes of it (NotStreamable: bad)."""
    parse = _VifBuilder().parse
    for item in array_items(fh, "virtual_interfaces"):
        listed = parse(item)
        if listed is None:
            raise NotStreamable
        yield item, listed


async def fetch_listing(
    lister: Lister,
    clock: Clock,
    *,
    max_attempts: int = 5,
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
    page_limit: int = PAGE_LIMIT,
) -> dict[str, Any]:
    """Fetch every page and return one merged ListVirtualInterfaces document.

    Pages are retried like deletes (429, 5xx, transport errors); 401/403 raise AuthError.
    """
    backoff = backoff or Backoff()
    rng = rng or random.Random()
    merged: list[Any] = []
    marker: str | None = None
    seen: set[str] = set()
    refreshed = False
    for _page in range(MAX_PAGES):
        attempt = 0
        while True:
            attempt += 1
            resp, doc = await lister.list_virtual_interfaces(limit=page_limit, marker=marker)
            if resp.status == 200 and doc is not None:
                break
            verdict = classify(
                resp,
                attempt=attempt,
                max_attempts=max_attempts,
                can_refresh=lister.can_refresh,
                refreshed=refreshed,
            )
            if verdict.action is Action.STOP:
                raise AuthError(
                    _describe("listing virtual interfaces was refused", resp)
                    + "; check the credentials and the dcaas:vif:list permission"
                )
            if verdict.action is Action.RETRY:
                if resp.status == 401:
                    refreshed = True
                    await lister.refresh_auth()
                delay = retry_delay(
                    backoff, verdict.kind, attempt, rng.random(), resp.retry_after_s
                )
                log.warning(
                    "state.page_retry",
                    attempt=attempt,
                    status=resp.status,
                    error_code=resp.error_code,
                    retry_in_s=round(delay, 3),
                )
                await clock.sleep(delay)
                continue
            raise ApiError(
                _describe("cannot list virtual interfaces", resp)
                + f" after {attempt} attempt(s); nothing was deleted. Check --endpoint "
                "and --project-id, or plan offline with --state FILE"
            )
        items = doc.get("virtual_interfaces")
        if not isinstance(items, list):
            raise ApiError(
                "the list response has no `virtual_interfaces` array; "
                "is --endpoint a DC v3 endpoint?"
            )
        merged.extend(items)
        page_info = doc.get("page_info") or {}
        next_marker = page_info.get("next_marker") if isinstance(page_info, dict) else None
        if not next_marker or not items:
            return {"virtual_interfaces": merged}
        if next_marker in seen:
            raise ApiError(
                f"the listing repeats page marker {str(next_marker)[:40]!r}; the server "
                "is paging in a loop, so live state cannot be trusted. Nothing was "
                "deleted; retry later or plan offline with --state FILE"
            )
        seen.add(next_marker)
        marker = str(next_marker)
    raise ApiError(f"the listing did not end after {MAX_PAGES} pages; nothing was deleted")


async def fetch_state(lister: Lister, clock: Clock, **kwargs: Any) -> LiveState:
    """Live state from the API."""
    doc = await fetch_listing(lister, clock, **kwargs)
    try:
        return build_state(vifs_from_listing(doc, "live listing"))
    except InputError as exc:
        # The server's answer is malformed, not the operator's input: exit 1, not 2.
        raise ApiError(
            f"the live listing cannot be used ({exc.message}, at {exc.column}); nothing was "
            "deleted. Is --endpoint a DC v3 endpoint? Retry later or plan offline with --state"
        ) from None


def _describe(what: str, resp: ApiResponse) -> str:
    status = resp.status if resp.status is not None else (resp.transport_error or "no answer")
    parts = [f"{what}: {status}"]
    if resp.error_code:
        parts.append(resp.error_code)
    if resp.error_msg:
        parts.append(resp.error_msg[:200])
    return " ".join(str(p) for p in parts)
