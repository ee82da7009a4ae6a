"""Who may call the simulator: static token, IAM-issued tokens, AK/SK (pure; callers pass time).

Verdicts carry the gateway's status and error code: 401 `APIGW.0301` for missing, unknown,
expired or badly signed credentials, 403 `APIGW.0302` for a forbidden token or a project in the
path that is not the token's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

AUTH_FAILED_CODE = "APIGW.0301"
FORBIDDEN_CODE = "APIGW.0302"
AKSK_PREFIX = "SDK-HMAC-SHA256 "


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of an auth check: `status` 0 means allowed."""

    status: int = 0
    error_code: str = ""
    error_msg: str = ""

    @property
    def ok(self) -> bool:
        """Whether the request may proceed."""
        return self.status == 0


ALLOWED = Verdict()


def _denied(detail: str) -> Verdict:
    return Verdict(401, AUTH_FAILED_CODE, f"Incorrect IAM authentication information: {detail}")


class TokenStore:
    """The static token plus IAM-issued tokens with their expiry (epoch seconds)."""

    __slots__ = ("_expiry", "forbidden", "static")

    def __init__(self, static: str, forbidden: frozenset[str] = frozenset()) -> None:
        self.static = static
        self.forbidden = forbidden
        self._expiry: dict[str, float] = {}

    def add(self, token: str, expires_at: float) -> None:
        """Remember an issued token."""
        self._expiry[token] = expires_at

    def check(self, token: str, now: float) -> Verdict:
        """Verdict for an `X-Auth-Token` value at epoch time `now`."""
        if token in self.forbidden:
            return Verdict(
                403,
                FORBIDDEN_CODE,
                "The IAM user is not authorized to access the API: "
                "grant dcaas:vifPeer:delete and dcaas:vif:list to the user",
            )
        if token == self.static:
            return ALLOWED
        expiry = self._expiry.get(token)
        if expiry is None:
            return _denied("decrypt token fail")
        if now >= expiry:
            return _denied("token expires; the token must be updated")
        return ALLOWED


def check_headers(
    headers: Mapping[str, str], tokens: TokenStore, now: float, *, signature_ok: bool | None
) -> Verdict:
    """Verdict for a DC request from its headers.

    `signature_ok` is the AK/SK verifier's answer when the request carries an
    `SDK-HMAC-SHA256` Authorization header (None: no verifier configured).
    """
    token = headers.get("X-Auth-Token")
    if token:
        return tokens.check(token, now)
    auth = headers.get("Authorization", "")
    if auth.startswith(AKSK_PREFIX):
        if signature_ok is None:
            return _denied("verify aksk signature fail (AK/SK is not enabled on this simulator)")
        return ALLOWED if signature_ok else _denied("verify aksk signature fail")
    return _denied("x-auth-token not found")


@dataclass(frozen=True, slots=True)
class PasswordAuth:
    """The parts of an IAM password-auth body the simulator checks."""

    user: str
    password: str = ""
    domain: str = ""
    project_id: str = ""
    project_name: str = ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_password_auth(doc: Any) -> PasswordAuth | str:
    """Read `{"auth": {"identity": {...password...}, "scope": {"project": ...}}}`.

    Returns the parsed request or a message saying what is wrong with it.
    """
    try:
        auth = doc["auth"]
        identity = auth["identity"]
        methods = identity["methods"]
        user = identity["password"]["user"]
    except (KeyError, TypeError):
        return "body must be {auth: {identity: {methods: [password], password: {user: ...}}}}"
    if not isinstance(methods, list) or "password" not in methods or not isinstance(user, dict):
        return "identity.methods must include 'password'"
    domain = _obj(user.get("domain"))
    project = _obj(_obj(auth.get("scope")).get("project"))
    return PasswordAuth(
        user=str(user.get("name", "")),
        password=str(user.get("password", "")),
        domain=str(domain.get("name", "")),
        project_id=str(project.get("id", "")),
        project_name=str(project.get("name", "")),
    )


def iso_utc(epoch: float) -> str:
    """IAM's timestamp format, e.g. `2026-01-05T03:38:36.862000Z`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def token_body(
    *,
    issued_at: float,
    expires_at: float,
    username: str,
    domain: str,
    project_id: str,
    project_name: str,
) -> dict[str, Any]:
    """The body of a 201 from `POST /v3/auth/tokens` (the token itself is a header)."""
    domain_ref = {"id": "d" * 32, "name": domain}
    return {
        "token": {
            "methods": ["password"],
            "issued_at": iso_utc(issued_at),
            "expires_at": iso_utc(expires_at),
            "user": {
                "id": "a" * 32,
                "name": username,
                "domain": domain_ref,
                "password_expires_at": "",
            },
            "project": {"id": project_id, "name": project_name, "domain": domain_ref},
            "roles": [{"id": "0", "name": "te_admin"}],
            "catalog": [],
        }
    }
