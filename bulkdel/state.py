"""Live state: every virtual interface with its peers, from the API or a saved listing."""

from __future__ import annotations

import contextlib
import gc
import json
import random
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import structlog

from bulkdel.clock import Clock
from bulkdel.errors import ApiError, AuthError, InputError
from bulkdel.models import Action, ApiResponse, LiveState, PeerInfo, VifInfo
from bulkdel.planner import state_digest
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
    with _gc_paused():
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

    def add(self, item: object) -> bool:
        """Record the interface `item`; False (and nothing recorded) if it has no string id."""
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            return False
        raw_peers = item.get("vif_peers") or []
        if not isinstance(raw_peers, list):
            return False
        families, statuses = self.families, self.statuses
        vif_id = item["id"].lower()
        peers = []
        for p in raw_peers:
            if isinstance(p, dict) and isinstance(pid := p.get("id"), str):
                family = p.get("address_family") or "ipv4"
                if type(family) is str:
                    family = families.get(family) or families.setdefault(family, family.lower())
                else:
                    family = str(family).lower()
                status = str(p.get("status") or "")
                status = statuses.setdefault(status, status)
                peers.append(PeerInfo(pid.lower(), vif_id, family, status))
        status = str(item.get("status") or "")
        status = statuses.setdefault(status, status)
        self.vifs.append(VifInfo(vif_id, tuple(peers), str(item.get("name") or ""), status))
        return True


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # Building a million acyclic records makes the cyclic GC rescan the growing heap over and
    # over (measured: 3/4 of the time of loading a 600k-interface listing). Restored on exit.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_state(vifs: Iterable[VifInfo]) -> LiveState:
    """Freeze interfaces into a LiveState with its digest."""
    vif_tuple = tuple(vifs)
    return LiveState(vifs=vif_tuple, digest=state_digest(vif_tuple))


def load_state_file(path: str) -> tuple[LiveState, dict[str, Any]]:
    """Read a saved ListVirtualInterfaces JSON (from `bulkdel export`)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read state file: {exc.strerror}", file=path, fix="check the --state path"
        ) from None
    try:
        with _gc_paused():
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


def read_state_file(path: str) -> LiveState:
    """`load_state_file(path)[0]`, without ever holding the whole JSON document.

    Each interface object is decoded on its own and turned into a record at once, so memory
    stays near the size of the records (a 600k-interface listing: ~0.5 GB instead of ~1.5 GB).
    Anything unusual (invalid JSON, a bad interface, a repeated key) is left to
    load_state_file, which reports it exactly as always.
    """
    try:
        raw = Path(path).read_bytes()
        text: str | None = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except (OSError, UnicodeDecodeError):
        text = None
    raw = b""  # as big as the file: free it before building records
    with _gc_paused():
        vifs = None if text is None else _stream_vifs(text)
    text = None
    if vifs is None:
        return load_state_file(path)[0]
    return build_state(vifs)


_WS = re.compile(r"[ \t\n\r]*")  # what json skips between tokens


def _skip(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    return match.end() if match else pos


def _stream_vifs(text: str) -> list[VifInfo] | None:
    """The records of `{..., "virtual_interfaces": [...], ...}`; None for anything else."""
    decode, ws = json.JSONDecoder().raw_decode, _skip
    builder: _VifBuilder | None = None
    try:
        pos = ws(text, 0)
        if not text.startswith("{", pos):
            return None
        pos = ws(text, pos + 1)
        while text.startswith('"', pos):
            key, pos = decode(text, pos)
            pos = ws(text, pos)
            if not text.startswith(":", pos):
                return None
            pos = ws(text, pos + 1)
            if key == "virtual_interfaces":
                if builder is not None or not text.startswith("[", pos):
                    return None  # a repeated key: json keeps the last one
                builder = _VifBuilder()
                pos = _stream_array(text, pos, builder)
            else:
                pos = decode(text, pos)[1]
            pos = ws(text, pos)
            if text.startswith("}", pos):
                done = ws(text, pos + 1) == len(text)
                return builder.vifs if done and builder is not None else None
            if not text.startswith(",", pos):
                return None
            pos = ws(text, pos + 1)
    except Exception:  # anything unusual: load_state_file reports it exactly
        return None
    return None


def _stream_array(text: str, pos: int, builder: _VifBuilder) -> int:
    """Record each interface of the array at `pos`; the position after it (ValueError if bad)."""
    decode, ws = json.JSONDecoder().raw_decode, _skip
    pos = ws(text, pos + 1)
    if text.startswith("]", pos):
        return pos + 1
    while True:
        item, pos = decode(text, pos)
        if not builder.add(item):
            raise ValueError("not an interface")
        pos = ws(text, pos)
        if text.startswith("]", pos):
            return pos + 1
        if not text.startswith(",", pos):
            raise ValueError("expected , or ]")
        pos = ws(text, pos + 1)


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
