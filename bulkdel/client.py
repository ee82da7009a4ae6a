"""The DC v3 HTTP client: one request per call, no retries of its own.

Retrying is the executor's job (every DELETE on the wire gets its own `dispatch` record), so
this client turns every exchange, including transport failures, into an `ApiResponse` value.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
import structlog
import yarl

from bulkdel.errors import ApiError, AuthError, ConfigError
from bulkdel.ids import is_canonical_uuid
from bulkdel.models import ApiResponse
from bulkdel.policy import CREDENTIALS_REFUSED, parse_retry_after

log = structlog.get_logger("bulkdel.client")

#: Error bodies larger than this are cut before parsing (hostile proxies send megabytes).
MAX_ERROR_BODY = 64 * 1024
#: Largest list page we accept (2000 interfaces with two peers is about 6 MB).
MAX_LIST_BODY = 64 * 1024 * 1024
_ACCEPT = {"Accept": "application/json"}


class Auth(Protocol):
    """What the client needs from a credential provider (see bulkdel.auth)."""

    can_refresh: bool

    @property
    def fixed_headers(self) -> Mapping[str, str] | None:
        """Headers that authenticate every request alike, or None (then `apply` each one)."""
        ...

    async def apply(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        """Add authentication headers in place."""
        ...

    async def refresh(self) -> None:
        """Obtain a fresh credential."""
        ...


def parse_error_body(
    raw: bytes, headers: Mapping[str, str]
) -> tuple[str | None, str | None, str | None]:
    """Extract (error_code, error_msg, request_id) from an error response.

    Accepts the flat `{"error_code","error_msg","request_id"}`, camelCase, `code`/`message`,
    and any of those nested one level down (`{"error": {...}}`), as the official SDK does.
    The `X-Request-Id` header wins over the body's request id.
    """
    request_id = headers.get("X-Request-Id") or headers.get("x-request-id")
    text = raw[:MAX_ERROR_BODY].decode("utf-8", errors="replace").strip()
    code: str | None = None
    msg: str | None = None
    body_rid: str | None = None
    doc: Any = None
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
    if isinstance(doc, dict):
        candidates: list[dict[str, Any]] = [doc]
        candidates += [v for v in doc.values() if isinstance(v, dict)]
        for cand in candidates:
            c = cand.get("error_code", cand.get("errorCode", cand.get("code")))
            m = cand.get("error_msg", cand.get("errorMsg", cand.get("message")))
            if c is not None or m is not None:
                code = None if c is None else str(c)[:100]
                msg = None if m is None else str(m)[:500]
                break
        rid = doc.get("request_id")
        body_rid = rid if isinstance(rid, str) else None
    elif text:
        # HTML from a proxy or plain text: keep a short, single-line excerpt.
        msg = " ".join(text.split())[:200]
    return code, msg, (request_id or body_rid)


@functools.cache
def proxy_for(url: str) -> str | None:
    """The proxy for `url` from HTTPS_PROXY/HTTP_PROXY/NO_PROXY, read once per URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies_environment().get(parts.scheme.lower())


def make_session(
    *,
    concurrency: int,
    timeout_s: float,
    ca_bundle: str | None = None,
) -> aiohttp.ClientSession:
    """A session with connection reuse sized to the concurrency and TLS verification on."""
    try:
        ssl_ctx = ssl.create_default_context(cafile=ca_bundle)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"--ca-bundle {ca_bundle}: not a usable PEM CA bundle ({exc}); pass a PEM file of "
            "CA certificates"
        ) from None
    connector = aiohttp.TCPConnector(
        limit=concurrency + 4, limit_per_host=concurrency + 4, ssl=ssl_ctx, keepalive_timeout=30
    )
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s, connect=min(10.0, timeout_s)),
        # Not trust_env: aiohttp would then re-read .netrc and the proxy variables on every
        # request (a quarter of the engine's throughput). proxy_for() reads them once instead.
        trust_env=False,
        raise_for_status=False,
        auto_decompress=True,
    )
    # aiohttp silently resends an idempotent request (DELETE included) once when a reused
    # connection turns out closed. That would be a DELETE on the wire with no `dispatch`
    # record, so switch it off; tests/test_client.py checks it stays off.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


class DcClient:
    """Speaks the DC v3 subset bulkdel needs: list interfaces, delete a vif peer."""

    def __init__(
        self,
        endpoint: str,
        project_id: str,
        auth: Auth,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float = 30.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self.auth = auth
        self.session = session
        self.timeout_s = timeout_s
        self._base = f"{self.endpoint}/v3/{project_id}/dcaas"
        self._peers = f"{self._base}/vif-peers/"
        self._proxy = proxy_for(self.endpoint)
        fixed = auth.fixed_headers
        # A static token needs no call per request: its headers are built once.
        self._fixed = None if fixed is None else {**_ACCEPT, **fixed}

    @property
    def can_refresh(self) -> bool:
        """Whether a 401 may be answered by fetching a new credential."""
        return self.auth.can_refresh

    async def refresh_auth(self) -> None:
        """Fetch a new credential (IAM password auth); a failure shows on the next request."""
        try:
            await self.auth.refresh()
        except (AuthError, ApiError) as exc:
            log.warning("auth.refresh_failed", error=str(exc))

    async def delete_vif_peer(self, peer_id: str) -> ApiResponse:
        """Send one DELETE for a validated peer ID and describe what came back."""
        if not is_canonical_uuid(peer_id):
            # Last line of defence: every input path validates IDs; reaching here is a bug.
            raise ValueError(f"refusing to build a DELETE URL from a non-UUID peer ID {peer_id!r}")
        resp, _ = await self._request("DELETE", self._peers + peer_id, None)
        return resp

    async def list_virtual_interfaces(
        self, *, limit: int = 2000, marker: str | None = None
    ) -> tuple[ApiResponse, dict[str, Any] | None]:
        """GET one page of virtual interfaces; the body is returned only on 200."""
        params = {"limit": str(limit)}
        if marker:
            params["marker"] = marker
        return await self._request(
            "GET", f"{self._base}/virtual-interfaces", params, want_body=True
        )

    async def _request(
        self, method: str, url: str, params: dict[str, str] | None, *, want_body: bool = False
    ) -> tuple[ApiResponse, dict[str, Any] | None]:
        full = f"{url}?{_query(params)}" if params else url
        started = time.perf_counter()
        if self._fixed is not None:
            headers = dict(self._fixed)
        else:
            headers = dict(_ACCEPT)
            try:
                await self.auth.apply(method, full, headers, b"")
            except AuthError as exc:
                # IAM refused (password changed, user locked): nothing was sent; stop the run.
                resp = self._transport("credentials_refused", str(exc), started)
                return replace(resp, error_code=CREDENTIALS_REFUSED), None
            except ApiError as exc:
                # IAM unreachable or throttling: nothing was sent; retried like a transport error.
                return self._transport("credentials_unavailable", str(exc), started), None
        try:
            async with self.session.request(
                method,
                yarl.URL(full, encoded=True),
                headers=headers,
                allow_redirects=False,
                proxy=self._proxy,
            ) as r:
                status = r.status
                hdrs = r.headers  # case-insensitive, read as is (no per-request copy)
                if status == 200 and want_body:
                    raw = await _read_capped(r.content, MAX_LIST_BODY + 1)
                    elapsed = (time.perf_counter() - started) * 1000
                    return self._ok_body(status, raw, hdrs, elapsed)
                raw = await _read_capped(r.content, MAX_ERROR_BODY) if status >= 300 else b""
        except TimeoutError:
            return self._transport(
                "timeout", f"no answer within {self.timeout_s:g} s", started
            ), None
        except aiohttp.ClientError as exc:
            return self._transport(type(exc).__name__, _short(exc), started), None
        except OSError as exc:
            return self._transport(type(exc).__name__, _short(exc), started), None
        elapsed = (time.perf_counter() - started) * 1000
        retry_after = None
        if status < 300:
            code, msg, rid = (None, None, hdrs.get("X-Request-Id"))
        else:
            code, msg, rid = parse_error_body(raw, hdrs)
            # Only an error asks the client to wait; a 2xx is final whatever it says.
            if (header := hdrs.get("Retry-After")) is not None:
                retry_after = parse_retry_after(header, datetime.now(UTC))
        return (
            ApiResponse(
                status=status,
                error_code=code,
                error_msg=msg,
                request_id=rid,
                retry_after_s=retry_after,
                elapsed_ms=round(elapsed, 3),
            ),
            None,
        )

    def _ok_body(
        self, status: int, raw: bytes, hdrs: Mapping[str, str], elapsed: float
    ) -> tuple[ApiResponse, dict[str, Any] | None]:
        rid = hdrs.get("X-Request-Id")
        if len(raw) > MAX_LIST_BODY:
            return ApiResponse(
                status=None,
                transport_error="oversized",
                error_msg="list page larger than 64 MiB",
                elapsed_ms=elapsed,
            ), None
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            return (
                ApiResponse(
                    status=None,
                    transport_error="bad_body",
                    error_msg="list response is not a JSON object: "
                    + " ".join(raw[:120].decode("utf-8", "replace").split()),
                    request_id=rid,
                    elapsed_ms=elapsed,
                ),
                None,
            )
        rid = rid or (doc.get("request_id") if isinstance(doc.get("request_id"), str) else None)
        return ApiResponse(status=status, request_id=rid, elapsed_ms=round(elapsed, 3)), doc

    @staticmethod
    def _transport(kind: str, msg: str, started: float) -> ApiResponse:
        return ApiResponse(
            status=None,
            transport_error=kind,
            error_msg=msg,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        )


def _query(params: dict[str, str]) -> str:
    # Sorted, as the official SDK sends it, and encoded exactly as the signer's canonical
    # query (quote, safe="~"), so AK/SK signs exactly what goes out.
    return "&".join(
        f"{urllib.parse.quote(k, safe='~')}={urllib.parse.quote(v, safe='~')}"
        for k, v in sorted(params.items())
    )


async def _read_capped(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Read the body up to `limit` bytes; a hostile server cannot make us buffer more."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await stream.read(min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
