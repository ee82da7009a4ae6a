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
`IamPasswordAuth` lives in `bulkdel.iam`, the flag check and `redact` in `bulkdel.secret_flags`
(light enough for CLI start-up); both are re-exported here.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol

import aiohttp

from bulkdel.clock import Clock, SystemClock
from bulkdel.endpoints import default_auth_url
from bulkdel.errors import AuthError, ConfigError
from bulkdel.iam import IamPasswordAuth
from bulkdel.iam import set_header as _set_header
from bulkdel.secret_flags import SECRET_FLAGS, redact, refuse_secret_flags
from bulkdel.signer import format_sdk_date, sign_request

__all__ = [
    "SECRET_FLAGS",
    "AkSkAuth",
    "Auth",
    "IamPasswordAuth",
    "TokenAuth",
    "credentials_from_env",
    "redact",
    "refuse_secret_flags",
]

_log = logging.getLogger("bulkdel.auth")
#: A token file bigger than this is not a token (IAM tokens are at most ~10 KiB).
MAX_TOKEN_FILE = 64 * 1024


class Auth(Protocol):
    """What the HTTP client needs from a credential provider."""

    can_refresh: bool

    @property
    def fixed_headers(self) -> Mapping[str, str] | None:
        """Headers that authenticate every request alike (a static token), or None when each
        request needs `apply` (signing, renewed tokens); saves the client a call per request."""
        ...

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


class _StaticAuth:
    """Shared behaviour of credentials bulkdel cannot renew."""

    can_refresh: bool = False
    fixed_headers: Mapping[str, str] | None = None

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
        self.fixed_headers = {"X-Auth-Token": self._token}

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


def _announced(auth: Auth, on_secret: Callable[[str], None] | None) -> Auth:
    """Tell `on_secret` the static secrets of `auth`, then return it."""
    if on_secret is not None:
        for secret in auth.secrets():
            on_secret(secret)
    return auth


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
    on_secret: Callable[[str], None] | None = None,
) -> Auth:
    """Pick the credential source (order in the module docstring) and build its provider.

    `on_secret` (e.g. `REDACTOR.add`) is told every secret value: a static credential at once,
    the IAM password at once and each IAM token when it arrives.
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
        token = _read_token_file(token_file, say)
        return _announced(TokenAuth(token, f"--token-file {token_file}"), on_secret)
    for var in ("BULKDEL_TOKEN", "OS_AUTH_TOKEN"):
        if has(var):
            return _announced(TokenAuth(env[var], var), on_secret)
    if has("HUAWEICLOUD_SDK_AK") or has("HUAWEICLOUD_SDK_SK"):
        missing = [v for v in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK") if not has(v)]
        if missing:
            raise ConfigError(
                f"{missing[0]} is not set but its partner is: set both HUAWEICLOUD_SDK_AK and "
                "HUAWEICLOUD_SDK_SK, or unset the one that is set"
            )
        aksk = AkSkAuth(
            env["HUAWEICLOUD_SDK_AK"],
            env["HUAWEICLOUD_SDK_SK"],
            project_id or "",
            env.get("HUAWEICLOUD_SDK_SECURITY_TOKEN") or None,
            clock=clk.wall,
        )
        return _announced(aksk, on_secret)
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
            on_secret=on_secret,
        )
    hint = ""
    if password_var:
        hint = f" ({password_var} is set, but --username is missing)"
    raise ConfigError(
        "no credentials found" + hint + ": set BULKDEL_TOKEN (or OS_AUTH_TOKEN), or pass "
        "--token-file FILE, or set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or pass "
        "--username and --domain with BULKDEL_PASSWORD set"
    )
