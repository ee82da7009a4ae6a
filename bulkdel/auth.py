"""Credential providers the HTTP client calls, and where credentials come from.

`credentials_from_env` takes the first source that is set, in this order:

1. `--token-file FILE` (content stripped; a warning when group/others can read it)
2. env `BULKDEL_TOKEN`
3. env `OS_AUTH_TOKEN`
4. env `HUAWEICLOUD_SDK_AK` + `HUAWEICLOUD_SDK_SK` (+ `HUAWEICLOUD_SDK_SECURITY_TOKEN`): AK/SK
   signing, `SDK-HMAC-SHA256`
5. `--username` (+ `--domain`, `--auth-url` or a known `--region`) with the password from env
   `BULKDEL_PASSWORD`, then `OS_PASSWORD`: IAM password auth, token renewed before expiry

When several are set, the first wins, the rest are named in a warning, and `describe()` says
which one is in use. Secrets are never accepted on the command line (`refuse_secret_flags`),
never appear in a repr, a `describe()` or an exception; `redact` scrubs any other text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from bulkdel.clock import Clock, SystemClock
from bulkdel.endpoints import default_auth_url
from bulkdel.errors import ApiError, AuthError, ConfigError, UsageError
from bulkdel.signer import format_sdk_date, sign_request

_log = logging.getLogger("bulkdel.auth")
#: A token file bigger than this is not a token (IAM tokens are at most ~10 KiB).
MAX_TOKEN_FILE = 64 * 1024


class Auth(Protocol):
    """What the HTTP client needs from a credential provider."""

    can_refresh: bool

    async def apply(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        """Add the authentication headers to `headers` in place."""
        ...

    async def refresh(self) -> None:
        """Obtain a new credential (after a 401); static credentials raise AuthError."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Values that must be redacted from any output."""
        ...

    def describe(self) -> str:
        """Which credential is in use and where it came from, without the secret."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _set_header(headers: dict[str, str], name: str, value: str) -> None:
    """Set a header, replacing any spelling of the same name."""
    for existing in [k for k in headers if k.lower() == name.lower()]:
        del headers[existing]
    headers[name] = value


def _check_header_value(value: str, source: str) -> str:
    """A credential must be one printable line, or it would corrupt the request headers."""
    value = value.strip()
    if not value:
        raise ConfigError(f"{source} is empty; put the credential in it or unset it")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ConfigError(
            f"{source} contains line breaks or control characters; it must hold exactly one "
            "credential on one line"
        )
    return value


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret of 4+ characters in `text` with `***` (longest first)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _iam_error_text(raw: bytes) -> str:
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


class _StaticAuth:
    """Shared behaviour of credentials bulkdel cannot renew."""

    can_refresh: bool = False

    def _refused_hint(self) -> str:
        raise NotImplementedError

    async def refresh(self) -> None:
        """Static credentials cannot be renewed."""
        raise AuthError(self._refused_hint())


class TokenAuth(_StaticAuth):
    """A ready-made IAM token sent as `X-Auth-Token`."""

    def __init__(self, token: str, source: str) -> None:
        self._token = _check_header_value(token, source)
        self.source = source

    def __repr__(self) -> str:
        return f"TokenAuth(source={self.source!r}, token=***)"

    async def apply(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        """Add `X-Auth-Token`."""
        _set_header(headers, "X-Auth-Token", self._token)

    def _refused_hint(self) -> str:
        return (
            f"the token from {self.source} was refused and bulkdel cannot renew it: get a new "
            f"token and set {self.source} again, or use IAM password auth (--username, "
            "--domain, BULKDEL_PASSWORD) so bulkdel renews tokens itself"
        )

    def secrets(self) -> tuple[str, ...]:
        """The token."""
        return (self._token,)

    def describe(self) -> str:
        """E.g. `token from BULKDEL_TOKEN (1210 chars, value hidden)`."""
        return f"token from {self.source} ({len(self._token)} chars, value hidden)"


class AkSkAuth(_StaticAuth):
    """AK/SK: adds `X-Project-Id` (and `X-Security-Token`), then signs `SDK-HMAC-SHA256`."""

    def __init__(
        self,
        ak: str,
        sk: str,
        project_id: str,
        security_token: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
        source: str = "HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK",
    ) -> None:
        self.ak = _check_header_value(ak, "HUAWEICLOUD_SDK_AK")
        self._sk = _check_header_value(sk, "HUAWEICLOUD_SDK_SK")
        if not project_id:
            raise ConfigError(
                "AK/SK signing needs the project ID: pass --project-id or set BULKDEL_PROJECT_ID"
            )
        self.project_id = project_id
        self._security_token = (
            _check_header_value(security_token, "HUAWEICLOUD_SDK_SECURITY_TOKEN")
            if security_token
            else None
        )
        self._clock = clock
        self.source = source

    def __repr__(self) -> str:
        temp = ", security_token=***" if self._security_token else ""
        return f"AkSkAuth(ak={_mask_id(self.ak)!r}, project_id={self.project_id!r}, sk=***{temp})"

    async def apply(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        """Add the project and security-token headers, then sign with the current time."""
        for stale in [k for k in headers if k.lower() in ("authorization", "x-sdk-date")]:
            del headers[stale]  # a re-sent request must be signed afresh
        _set_header(headers, "X-Project-Id", self.project_id)
        if self._security_token:
            _set_header(headers, "X-Security-Token", self._security_token)
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        date = format_sdk_date(self._clock())
        headers.update(sign_request(method, url, headers, body, self.ak, self._sk, date))

    def _refused_hint(self) -> str:
        return (
            f"the AK/SK from {self.source} was refused: check that the AK is enabled and the SK "
            "matches it, that a temporary AK has its HUAWEICLOUD_SDK_SECURITY_TOKEN and has not "
            "expired, and that this machine's clock is within 15 minutes of the real time"
        )

    def secrets(self) -> tuple[str, ...]:
        """The SK and the security token."""
        return (self._sk, self._security_token) if self._security_token else (self._sk,)

    def describe(self) -> str:
        """E.g. `AK/SK signing (SDK-HMAC-SHA256), AK ABCD… from HUAWEICLOUD_SDK_AK/...`."""
        temp = " with a temporary security token" if self._security_token else ""
        return f"AK/SK signing (SDK-HMAC-SHA256), AK {_mask_id(self.ak)} from {self.source}{temp}"


class IamPasswordAuth:
    """IAM password auth: fetches a project-scoped token and renews it before it expires.

    `POST {auth_url}/v3/auth/tokens?nocatalog=true` (reference §7a); the token is the
    `X-Subject-Token` header, its lifetime comes from `token.expires_at`. Concurrent callers
    share one in-flight token request.
    """

    can_refresh: bool = True

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
        self._token: str | None = None
        self._refresh_at = 0.0  # monotonic deadline, immune to wall-clock jumps
        self._generation = 0
        self._lock = asyncio.Lock()

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
        _set_header(headers, "X-Auth-Token", self._token)

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
        owned = self._session is None
        session = self._session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=self.ca_bundle)),
            trust_env=True,
        )
        try:
            await self._fetch_with(session)
        finally:
            if owned:
                await session.close()

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
                ) as resp:
                    status = resp.status
                    raw = await resp.content.read(1024 * 1024)
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
            detail = redact(_iam_error_text(raw), self.secrets())
            if status in (401, 403):
                raise AuthError(
                    f"IAM refused the credentials for user {self.username} in domain "
                    f"{self.domain} (HTTP {status}, {detail}); check {self.password_source}, "
                    "--username, --domain and that the user may log in by API with a password"
                )
            if status == 429 or status >= 500:
                if last_try:
                    what = "is throttling token requests" if status == 429 else "keeps failing"
                    raise ApiError(
                        f"IAM at {self.auth_url} {what} (HTTP {status}, {detail}) after "
                        f"{attempt} attempts; wait a minute and retry"
                    )
                await self._clock.sleep(self._delay(attempt, retry_after))
                continue
            if status == 404:
                raise ConfigError(
                    f"IAM at {self.auth_url} has no /v3/auth/tokens (HTTP 404); check --auth-url "
                    "(e.g. https://iam.eu-de.otc.t-systems.com)"
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
        self._refresh_at = self._clock.monotonic() + max(30.0, usable)
        self._generation += 1


def _mask_id(value: str) -> str:
    """Enough of an identifier to recognise it, not enough to use it."""
    return value[:4] + "…" if len(value) > 8 else "…"


def _read_token_file(path: str, warn: Callable[[str], None]) -> str:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"--token-file {path}: not a regular file; point it at a token file")
        if st.st_size > MAX_TOKEN_FILE:
            raise ConfigError(
                f"--token-file {path}: {st.st_size} bytes is too large for a token; "
                "the file must hold only the token"
            )
        with open(path, encoding="utf-8") as fh:
            text = fh.read(MAX_TOKEN_FILE + 1)
    except FileNotFoundError:
        raise ConfigError(f"--token-file {path}: no such file; check the path") from None
    except PermissionError:
        raise ConfigError(f"--token-file {path}: permission denied; check its owner/mode") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--token-file {path}: not UTF-8 text; it must hold the token") from None
    if st.st_mode & 0o077:
        warn(
            f"--token-file {path} is readable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}"
        )
    return _check_header_value(text, f"--token-file {path}")


def credentials_from_env(
    env: Mapping[str, str],
    *,
    token_file: str | None = None,
    auth_url: str | None = None,
    username: str | None = None,
    domain: str | None = None,
    project_id: str | None = None,
    project_name: str | None = None,
    region: str | None = None,
    session: aiohttp.ClientSession | None = None,
    clock: Clock | None = None,
    warn: Callable[[str], None] | None = None,
) -> Auth:
    """Pick the credential source (order in the module docstring) and build its provider.

    Raises ConfigError naming exactly what to set when nothing usable is configured.
    """
    say: Callable[[str], None] = warn or _log.warning
    clk = clock or SystemClock()

    def has(name: str) -> bool:
        return bool(env.get(name, "").strip())

    password_var = next((v for v in ("BULKDEL_PASSWORD", "OS_PASSWORD") if has(v)), None)
    present = [
        label
        for label, is_set in (
            ("--token-file", bool(token_file)),
            ("BULKDEL_TOKEN", has("BULKDEL_TOKEN")),
            ("OS_AUTH_TOKEN", has("OS_AUTH_TOKEN")),
            ("HUAWEICLOUD_SDK_AK/SK", has("HUAWEICLOUD_SDK_AK") or has("HUAWEICLOUD_SDK_SK")),
            ("--username with a password", bool(username) and password_var is not None),
        )
        if is_set
    ]
    if len(present) > 1:
        say(f"several credentials are set; using {present[0]}, ignoring {', '.join(present[1:])}")

    if token_file:
        return TokenAuth(_read_token_file(token_file, say), f"--token-file {token_file}")
    for var in ("BULKDEL_TOKEN", "OS_AUTH_TOKEN"):
        if has(var):
            return TokenAuth(env[var], var)
    if has("HUAWEICLOUD_SDK_AK") or has("HUAWEICLOUD_SDK_SK"):
        missing = [v for v in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK") if not has(v)]
        if missing:
            raise ConfigError(
                f"{missing[0]} is not set but its partner is: set both HUAWEICLOUD_SDK_AK and "
                "HUAWEICLOUD_SDK_SK, or unset the one that is set"
            )
        return AkSkAuth(
            env["HUAWEICLOUD_SDK_AK"],
            env["HUAWEICLOUD_SDK_SK"],
            project_id or "",
            env.get("HUAWEICLOUD_SDK_SECURITY_TOKEN") or None,
            clock=clk.wall,
        )
    if username:
        if password_var is None:
            raise ConfigError(
                f"--username {username} is set but no password: set BULKDEL_PASSWORD "
                "(or OS_PASSWORD) in the environment"
            )
        if not domain:
            raise ConfigError(
                "IAM password auth needs --domain (the account/domain name the user belongs to)"
            )
        url = auth_url or default_auth_url(region)
        if not url:
            raise ConfigError(
                "IAM password auth needs --auth-url (e.g. https://iam.eu-de.otc.t-systems.com) "
                "or a known --region"
            )
        return IamPasswordAuth(
            url,
            username,
            domain,
            env[password_var],
            project_id=project_id,
            project_name=project_name,
            session=session,
            clock=clk,
            password_source=password_var,
        )
    hint = ""
    if password_var:
        hint = f" ({password_var} is set, but --username is missing)"
    raise ConfigError(
        "no credentials found" + hint + ": set BULKDEL_TOKEN (or OS_AUTH_TOKEN), or pass "
        "--token-file FILE, or set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or pass "
        "--username and --domain with BULKDEL_PASSWORD set"
    )


#: Flags that would put a secret on the command line, and where the secret goes instead.
SECRET_FLAGS: dict[str, str] = {
    "--token": "set BULKDEL_TOKEN or use --token-file FILE",
    "--auth-token": "set BULKDEL_TOKEN or use --token-file FILE",
    "--os-auth-token": "set BULKDEL_TOKEN (or OS_AUTH_TOKEN) or use --token-file FILE",
    "--password": "set BULKDEL_PASSWORD (or OS_PASSWORD)",
    "--os-password": "set BULKDEL_PASSWORD (or OS_PASSWORD)",
    "--sk": "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
    "--secret-key": "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
    "--ak-sk": "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
    "--security-token": "set HUAWEICLOUD_SDK_SECURITY_TOKEN",
}


def refuse_secret_flags(argv: Sequence[str]) -> None:
    """Raise UsageError if argv offers a secret as an option (`--token X` or `--token=X`)."""
    for arg in argv:
        if arg == "--":
            return  # what follows is positional, not options
        flag = arg.split("=", 1)[0]
        if flag in SECRET_FLAGS:
            raise UsageError(
                f"{flag} is not accepted: secrets on the command line leak into shell history "
                f"and ps; {SECRET_FLAGS[flag]}"
            )
