"""IAM password auth: a project-scoped token from `POST /v3/auth/tokens`, renewed before expiry.

Failures are run-level faults the executor stops on: `AuthError` (exit 4) when IAM refuses the
credentials or the request, `ApiError` (exit 1) when IAM cannot be reached or keeps failing,
`ConfigError` (exit 2) when `--auth-url` is not an IAM endpoint before any token was obtained.
No message ever contains the password or a token.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bulkdel.client import proxy_for
from bulkdel.clock import Clock, SystemClock
from bulkdel.errors import ApiError, AuthError, ConfigError
from bulkdel.secret_flags import redact

#: Largest IAM answer read (a token body without catalog is a few KiB).
MAX_IAM_BODY = 1024 * 1024


def set_header(headers: dict[str, str], name: str, value: str) -> None:
    """Set a header, replacing any spelling of the same name."""
    for existing in [k for k in headers if k.lower() == name.lower()]:
        del headers[existing]
    headers[name] = value


def iam_error_text(raw: bytes) -> str:
    """`code: message` from an IAM error body (flat `error_code`/`error_msg` or Keystone's
    nested `{"error": {"code", "message", "title"}}`), else a short excerpt."""
    text = raw[:4096].decode("utf-8", errors="replace").strip()
    try:
        doc: Any = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200] or "no error body"
    if isinstance(doc, dict):
        for cand in [doc, *(v for v in doc.values() if isinstance(v, dict))]:
            code = cand.get("error_code", cand.get("code"))
            msg = cand.get("error_msg", cand.get("message", cand.get("title")))
            if code is not None or msg is not None:
                return f"{code}: {msg}"[:300]
    return " ".join(text.split())[:200]


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class IamPasswordAuth:
    """IAM password auth: fetches a project-scoped token and renews it before it expires.

    `POST {auth_url}/v3/auth/tokens?nocatalog=true` (reference §7a); the token is the
    `X-Subject-Token` header, its lifetime comes from `token.expires_at`. Concurrent callers
    share one in-flight token request. `on_secret` is told the password at once and every
    new token as it arrives, so a log redactor can learn them.
    """

    can_refresh: bool = True
    fixed_headers: None = None  # the token is renewed: every request goes through apply()

    def __init__(
        self,
        auth_url: str,
        username: str,
        domain: str,
        password: str,
        *,
        project_id: str | None = None,
        project_name: str | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
        refresh_margin_s: float = 300.0,
        max_attempts: int = 4,
        timeout_s: float = 30.0,
        ca_bundle: str | None = None,
        password_source: str = "BULKDEL_PASSWORD",  # noqa: S107 -- a variable name
        on_secret: Callable[[str], None] | None = None,
    ) -> None:
        if not (project_id or project_name):
            raise ConfigError("IAM password auth needs a project: pass --project-id")
        base = auth_url.strip().rstrip("/")
        base = base.removesuffix("/v3")  # OS_AUTH_URL habitually ends in /v3
        parts = urlsplit(base)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"--auth-url {auth_url!r} must be https://host, e.g. "
                "https://iam.eu-de.otc.t-systems.com"
            )
        self.auth_url = base
        self.tokens_url = f"{base}/v3/auth/tokens?nocatalog=true"
        self.username = username
        self.domain = domain
        self._password = password
        self.project_id = project_id
        self.project_name = project_name
        self._session = session
        self._clock: Clock = clock or SystemClock()
        self.refresh_margin_s = refresh_margin_s
        self.max_attempts = max(1, max_attempts)
        self.timeout_s = timeout_s
        self.ca_bundle = ca_bundle
        self.password_source = password_source
        self._on_secret = on_secret
        self._token: str | None = None
        self._refresh_at = 0.0  # monotonic deadline, immune to wall-clock jumps
        self._generation = 0
        self._lock = asyncio.Lock()
        if on_secret is not None:
            on_secret(password)

    def __repr__(self) -> str:
        return (
            f"IamPasswordAuth(auth_url={self.auth_url!r}, username={self.username!r}, "
            f"domain={self.domain!r}, project_id={self.project_id!r}, "
            f"project_name={self.project_name!r}, password=***)"
        )

    @property
    def token_fetches(self) -> int:
        """How many tokens were obtained so far."""
        return self._generation

    def _fresh(self) -> bool:
        return self._token is not None and self._clock.monotonic() < self._refresh_at

    async def apply(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        """Add `X-Auth-Token`, first getting a token if none is valid for the margin."""
        if not self._fresh():
            async with self._lock:
                if not self._fresh():  # another caller may have fetched while we waited
                    await self._fetch()
        assert self._token is not None
        set_header(headers, "X-Auth-Token", self._token)

    async def refresh(self) -> None:
        """Get a new token now; callers that pile up while one is fetched share it."""
        seen = self._generation
        async with self._lock:
            if self._generation == seen:
                self._refresh_at = 0.0  # callers arriving meanwhile wait for the new token
                await self._fetch()

    def secrets(self) -> tuple[str, ...]:
        """The password and the current token."""
        return (self._password, self._token) if self._token else (self._password,)

    def describe(self) -> str:
        """Who logs in where, and where the password came from."""
        scope = f"project {self.project_id or self.project_name}"
        return (
            f"IAM password auth: user {self.username} in domain {self.domain} via "
            f"{self.auth_url}, {scope}, password from {self.password_source}"
        )

    def _body(self) -> bytes:
        project = {"id": self.project_id} if self.project_id else {"name": self.project_name}
        user = {"name": self.username, "password": self._password, "domain": {"name": self.domain}}
        doc = {
            "auth": {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": project},
            }
        }
        return json.dumps(doc).encode("utf-8")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        try:
            wanted = float(retry_after) if retry_after else None
        except ValueError:
            wanted = None  # an HTTP date: plain backoff is good enough here
        backoff = min(30.0, 2.0 ** (attempt - 1))
        return min(30.0, max(0.0, wanted)) if wanted is not None else backoff

    async def _fetch(self) -> None:
        if self._session is not None:
            await self._fetch_with(self._session)
            return
        try:
            ctx = ssl.create_default_context(cafile=self.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"--ca-bundle {self.ca_bundle}: cannot load it ({type(exc).__name__}); "
                "point it at a PEM file of CA certificates"
            ) from None
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx), trust_env=True
        ) as session:
            await self._fetch_with(session)

    async def _fetch_with(self, session: aiohttp.ClientSession) -> None:
        headers = {"Content-Type": "application/json;charset=utf8", "Accept": "application/json"}
        body = self._body()
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        for attempt in range(1, self.max_attempts + 1):
            last_try = attempt == self.max_attempts
            try:
                async with session.post(
                    self.tokens_url,
                    data=body,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                    proxy=proxy_for(self.tokens_url),
                ) as resp:
                    status = resp.status
                    raw = await resp.content.read(MAX_IAM_BODY)
                    subject = resp.headers.get("X-Subject-Token")
                    retry_after = resp.headers.get("Retry-After")
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                if last_try:
                    why = redact(str(exc) or type(exc).__name__, self.secrets())[:200]
                    raise ApiError(
                        f"cannot reach IAM at {self.auth_url} ({type(exc).__name__}: {why}) after "
                        f"{attempt} attempts; check --auth-url, DNS, HTTPS_PROXY and --ca-bundle"
                    ) from None
                await self._clock.sleep(self._delay(attempt, None))
                continue
            if status in (200, 201):
                self._accept(subject, raw)
                return
            self._refuse(status, raw, last_try=last_try)
            await self._clock.sleep(self._delay(attempt, retry_after))

    def _refuse(self, status: int, raw: bytes, *, last_try: bool) -> None:
        """Raise the error a non-2xx token answer means; return when it is worth retrying."""
        detail = redact(iam_error_text(raw), self.secrets())
        if status in (401, 403):
            raise AuthError(
                f"IAM refused the credentials for user {self.username} in domain "
                f"{self.domain} (HTTP {status}, {detail}); check {self.password_source}, "
                "--username, --domain and that the user may log in by API with a password"
            )
        if status == 429 or status >= 500:
            if not last_try:
                return
            what = "is throttling token requests" if status == 429 else "keeps failing"
            raise ApiError(
                f"IAM at {self.auth_url} {what} (HTTP {status}, {detail}) after "
                f"{self.max_attempts} attempts; wait a minute and retry"
            )
        if status == 404 and self._generation == 0:
            raise ConfigError(
                f"IAM at {self.auth_url} has no /v3/auth/tokens (HTTP 404); check --auth-url "
                "(e.g. https://iam.eu-de.otc.t-systems.com)"
            )
        if status == 404:
            # It issued tokens before, so this is IAM (or a proxy) misbehaving, not the config;
            # an exit code 2 would wrongly claim nothing was sent.
            raise ApiError(
                f"IAM at {self.auth_url} stopped serving /v3/auth/tokens (HTTP 404, {detail}); "
                "retry later, or check that --auth-url still points at IAM"
            )
        raise AuthError(
            f"IAM at {self.auth_url} rejected the token request for user {self.username} "
            f"(HTTP {status}, {detail}); check --domain and the project ID/name"
        )

    def _accept(self, subject: str | None, raw: bytes) -> None:
        if not subject or not subject.strip():
            raise ApiError(
                f"IAM at {self.auth_url} answered without an X-Subject-Token header; "
                "is --auth-url really an IAM (Keystone v3) endpoint?"
            )
        try:
            token: Any = json.loads(raw).get("token", {})
        except (ValueError, AttributeError):
            token = {}
        if not isinstance(token, dict):
            token = {}
        expires = _parse_time(token.get("expires_at"))
        issued = _parse_time(token.get("issued_at"))
        # Lifetime from IAM's own timestamps, so a skewed local clock does not matter.
        lifetime = 3600.0
        if expires and issued:
            lifetime = (expires - issued).total_seconds()
        elif expires:
            lifetime = (expires - self._clock.wall()).total_seconds()
        # A short-lived token is renewed halfway rather than at once.
        usable = max(lifetime - self.refresh_margin_s, lifetime / 2)
        self._token = subject.strip()
        if self._on_secret is not None:
            self._on_secret(self._token)  # before any request can carry it into a log line
        # At most every 30 s even for odd short tokens, but never past half their lifetime.
        self._refresh_at = self._clock.monotonic() + max(min(30.0, lifetime / 2), usable)
        self._generation += 1
