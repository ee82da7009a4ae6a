"""Tests of the credential providers, credential resolution and secret hygiene."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import bulkdel.auth
import bulkdel.iam
import bulkdel.secret_flags
from bulkdel.auth import AkSkAuth, IamPasswordAuth, TokenAuth, credentials_from_env
from bulkdel.errors import AuthError, ConfigError, UsageError
from bulkdel.secret_flags import redact, refuse_secret_flags
from bulkdel.signer import parse_authorization, verify_request

PROJECT = "0605768a3300d5762f82c01180692873"
IAM = "https://iam.example.test"
PASSWORD = "pw-Very-Secret-123"
SK = "SK-very-secret-0123456789"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


# ---- TokenAuth -----------------------------------------------------------------------------


async def test_token_auth_sets_header_and_cannot_refresh() -> None:
    """The token goes out as X-Auth-Token; refresh raises AuthError pointing at the source."""
    auth = TokenAuth("tok-abcdef123456", "BULKDEL_TOKEN")
    headers: dict[str, str] = {"x-auth-token": "old"}
    await auth.apply("DELETE", "https://h/x", headers, b"")
    assert headers == {"X-Auth-Token": "tok-abcdef123456"}
    assert auth.can_refresh is False
    with pytest.raises(AuthError, match="BULKDEL_TOKEN"):
        await auth.refresh()


def test_token_with_line_break_is_refused() -> None:
    """A token with an embedded newline would split headers, so it is refused (no echo)."""
    with pytest.raises(ConfigError, match="BULKDEL_TOKEN") as err:
        TokenAuth("abc\r\nX-Evil: 1", "BULKDEL_TOKEN")
    assert "X-Evil" not in str(err.value)


# ---- AkSkAuth ------------------------------------------------------------------------------


def _aksk(security_token: str | None = None) -> AkSkAuth:
    return AkSkAuth("AKEXAMPLE12345", SK, PROJECT, security_token, clock=lambda: NOW)


async def test_aksk_adds_project_date_and_signature() -> None:
    """AK/SK adds X-Project-Id, Content-Type, Host, X-Sdk-Date and a verifiable signature."""
    auth = _aksk()
    headers = {"Accept": "application/json"}
    url = f"https://dcaas.example.test/v3/{PROJECT}/dcaas/virtual-interfaces?limit=2"
    await auth.apply("GET", url, headers, b"")
    assert headers["X-Project-Id"] == PROJECT
    assert headers["Content-Type"] == "application/json"
    assert headers["Host"] == "dcaas.example.test"
    assert headers["X-Sdk-Date"] == "20260101T000000Z"
    parsed = parse_authorization(headers["Authorization"])
    assert parsed is not None
    assert parsed.signed_headers == ("accept", "content-type", "host", "x-project-id", "x-sdk-date")
    result = verify_request(
        "GET",
        f"/v3/{PROJECT}/dcaas/virtual-interfaces",
        "limit=2",
        headers,
        b"",
        secrets_by_ak={"AKEXAMPLE12345": SK},
        now=NOW,
    )
    assert result.ok


async def test_aksk_signs_the_security_token() -> None:
    """A temporary AK sends X-Security-Token and it is among the signed headers."""
    auth = _aksk("temp-security-token-xyz")
    headers: dict[str, str] = {}
    await auth.apply("DELETE", "https://h.example/v3/p/x", headers, b"")
    assert headers["X-Security-Token"] == "temp-security-token-xyz"
    parsed = parse_authorization(headers["Authorization"])
    assert parsed is not None
    assert "x-security-token" in parsed.signed_headers
    assert set(auth.secrets()) == {SK, "temp-security-token-xyz"}


async def test_aksk_resigns_with_a_fresh_date() -> None:
    """Applying again to the same headers replaces the old date and signature."""
    moments = iter([NOW, NOW + timedelta(minutes=20)])
    auth = AkSkAuth("AKEXAMPLE12345", SK, PROJECT, clock=lambda: next(moments))
    headers: dict[str, str] = {}
    await auth.apply("DELETE", "https://h.example/x", headers, b"")
    first = headers["Authorization"]
    await auth.apply("DELETE", "https://h.example/x", headers, b"")
    assert headers["X-Sdk-Date"] == "20260101T002000Z"
    assert headers["Authorization"] != first
    assert [k.lower() for k in headers].count("authorization") == 1


def test_aksk_needs_a_project() -> None:
    """Without a project ID AK/SK cannot sign DC requests; the error says what to pass."""
    with pytest.raises(ConfigError, match="--project-id"):
        AkSkAuth("AKEXAMPLE12345", SK, "")


async def _verifying_app(request: web.Request) -> web.Response:
    result = verify_request(
        request.method,
        request.raw_path,
        None,
        request.headers,
        await request.read(),
        secrets_by_ak={"AKEXAMPLE12345": SK},
        now=datetime.now(UTC),
    )
    return web.Response(status=204 if result.ok else 401, text=result.detail)


@pytest.fixture
async def verifying_server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _verifying_app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("DELETE", f"/v3/{PROJECT}/dcaas/vif-peers/68250543-0a13-4ac7-aa36-d018856ac640", b""),
        ("GET", f"/v3/{PROJECT}/dcaas/virtual-interfaces?limit=2&id=b&id=a&marker=m%201", b""),
        ("POST", f"/v3/{PROJECT}/dcaas/vif-peers", b'{"vif_peer": {"name": "p"}}'),
    ],
)
async def test_aksk_signature_survives_the_wire(
    verifying_server: TestServer, method: str, path: str, body: bytes
) -> None:
    """What aiohttp actually sends (Host with port, encoded query) verifies on a real server."""
    auth = AkSkAuth("AKEXAMPLE12345", SK, PROJECT)
    url = f"http://127.0.0.1:{verifying_server.port}{path}"
    headers = {"Accept": "application/json"}
    await auth.apply(method, url, headers, body)
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers, data=body) as resp,
    ):
        assert resp.status == 204, await resp.text()


# ---- secret hygiene ------------------------------------------------------------------------


def test_no_static_provider_shows_its_secret() -> None:
    """repr, str and describe() of token and AK/SK providers never contain the secret."""
    providers: list[Any] = [TokenAuth("tok-secret-abcdef", "BULKDEL_TOKEN"), _aksk("sec-abcdef")]
    for auth in providers:
        texts = [repr(auth), str(auth), auth.describe()]
        assert len(auth.secrets()) == (1 if auth is providers[0] else 2)
        for secret in auth.secrets():
            assert all(secret not in t for t in texts), type(auth).__name__


def test_redact_replaces_secrets_longest_first() -> None:
    """Every secret of 4+ characters becomes ***, even one containing another."""
    text = "token=abcd1234 and abcd and abc"
    assert redact(text, ["abcd", "abcd1234", "abc", ""]) == "token=*** and *** and abc"


# ---- credentials_from_env ------------------------------------------------------------------

FULL_ENV = {
    "BULKDEL_TOKEN": "bulkdel-token-1",
    "OS_AUTH_TOKEN": "os-token-1",
    "HUAWEICLOUD_SDK_AK": "AKEXAMPLE12345",
    "HUAWEICLOUD_SDK_SK": SK,
    "BULKDEL_PASSWORD": PASSWORD,
}


def _resolve(env: dict[str, str], warnings: list[str] | None = None, /, **kw: Any) -> Any:
    kw.setdefault("project_id", PROJECT)
    sink = warnings if warnings is not None else []
    return credentials_from_env(env, warn=sink.append, **kw)


def test_env_precedence(tmp_path: Path) -> None:
    """Token file, BULKDEL_TOKEN, OS_AUTH_TOKEN, AK/SK, password: the first set wins."""
    token_file = tmp_path / "tok"
    token_file.write_text("file-token-1\n")
    token_file.chmod(0o600)
    login: dict[str, Any] = {"username": "ops-bot", "domain": "acme", "auth_url": IAM}
    warnings: list[str] = []
    auth = _resolve(FULL_ENV, warnings, token_file=str(token_file), **login)
    assert isinstance(auth, TokenAuth)
    assert auth.secrets() == ("file-token-1",)
    assert "using --token-file" in warnings[0]
    assert "BULKDEL_TOKEN" in warnings[0]
    assert "file-token-1" not in warnings[0]

    env = dict(FULL_ENV)
    assert _resolve(env, **login).describe().startswith("token from BULKDEL_TOKEN")
    del env["BULKDEL_TOKEN"]
    assert _resolve(env, **login).describe().startswith("token from OS_AUTH_TOKEN")
    del env["OS_AUTH_TOKEN"]
    assert isinstance(_resolve(env, **login), AkSkAuth)
    del env["HUAWEICLOUD_SDK_AK"], env["HUAWEICLOUD_SDK_SK"]
    iam = _resolve(env, **login)
    assert isinstance(iam, IamPasswordAuth)
    assert "password from BULKDEL_PASSWORD" in iam.describe()


def test_env_blank_values_count_as_unset() -> None:
    """An exported but empty BULKDEL_TOKEN does not shadow the next source."""
    auth = _resolve({"BULKDEL_TOKEN": " ", "OS_AUTH_TOKEN": "os-token-1"})
    assert auth.describe().startswith("token from OS_AUTH_TOKEN")


def test_env_security_token_and_os_password() -> None:
    """The SDK security token is picked up; OS_PASSWORD is the password fallback."""
    env = {"HUAWEICLOUD_SDK_AK": "AKEXAMPLE12345", "HUAWEICLOUD_SDK_SK": SK}
    auth = _resolve({**env, "HUAWEICLOUD_SDK_SECURITY_TOKEN": "sts-abcdef"})
    assert "sts-abcdef" in auth.secrets()
    iam = _resolve({"OS_PASSWORD": PASSWORD}, username="u", domain="d", region="eu-de")
    assert isinstance(iam, IamPasswordAuth)
    assert iam.auth_url == "https://iam.eu-de.otc.t-systems.com"
    assert iam.secrets() == (PASSWORD,)


@pytest.mark.parametrize(
    ("env", "kw", "needle"),
    [
        ({}, {}, "BULKDEL_TOKEN"),
        ({"BULKDEL_PASSWORD": "x"}, {}, "--username is missing"),
        ({"HUAWEICLOUD_SDK_AK": "AKEXAMPLE12345"}, {}, "HUAWEICLOUD_SDK_SK is not set"),
        ({}, {"username": "u", "domain": "d", "auth_url": IAM}, "BULKDEL_PASSWORD"),
        ({"BULKDEL_PASSWORD": "x"}, {"username": "u", "auth_url": IAM}, "--domain"),
        ({"BULKDEL_PASSWORD": "x"}, {"username": "u", "domain": "d"}, "--auth-url"),
    ],
)
def test_env_missing_pieces_say_what_to_set(
    env: dict[str, str], kw: dict[str, Any], needle: str
) -> None:
    """Each incomplete configuration is a ConfigError naming the variable or option to set."""
    with pytest.raises(ConfigError) as err:
        _resolve(env, **kw)
    assert needle in str(err.value)


def test_token_file_problems(tmp_path: Path) -> None:
    """Missing, empty and group-readable token files: two errors and a warning."""
    with pytest.raises(ConfigError, match="no such file"):
        _resolve({}, token_file=str(tmp_path / "absent"))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(ConfigError, match="empty"):
        _resolve({}, token_file=str(empty))
    loose = tmp_path / "loose"
    loose.write_text("tok-loose-1")
    os.chmod(loose, 0o644)
    warnings: list[str] = []
    _resolve({}, warnings, token_file=str(loose))
    assert warnings == [
        f"--token-file {loose} is readable by group or others (mode 0644); run: chmod 600 {loose}"
    ]


# ---- refuse_secret_flags -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flag", "fix"),
    [
        (["run", "inv.csv", "--token", "abc"], "--token", "BULKDEL_TOKEN"),
        (["run", "--token=abc"], "--token", "--token-file"),
        (["plan", "--password", "x"], "--password", "BULKDEL_PASSWORD"),
        (["plan", "--sk=x"], "--sk", "HUAWEICLOUD_SDK_SK"),
        (["plan", "--secret-key", "x"], "--secret-key", "HUAWEICLOUD_SDK_SK"),
        (["plan", "--ak-sk", "a:b"], "--ak-sk", "HUAWEICLOUD_SDK_AK"),
        (["plan", "--security-token=x"], "--security-token", "HUAWEICLOUD_SDK_SECURITY_TOKEN"),
    ],
)
def test_secret_flags_are_refused(argv: list[str], flag: str, fix: str) -> None:
    """A secret offered on the command line is a UsageError naming the safe alternative."""
    with pytest.raises(UsageError) as err:
        refuse_secret_flags(argv)
    text = str(err.value)
    assert text.startswith(f"{flag} is not accepted")
    assert fix in text
    assert "abc" not in text
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "inv.csv", "--token-file", "/run/tok"],
        ["run", "--token-file=/run/tok", "--yes"],
        ["run", "--", "--token"],
        ["report", "audit.jsonl"],
    ],
)
def test_safe_argv_passes(argv: list[str]) -> None:
    """--token-file and arguments after `--` are not mistaken for secret flags."""
    refuse_secret_flags(argv)


# ---- module layout -------------------------------------------------------------------------


def test_auth_reexports_the_split_modules() -> None:
    """Old imports from bulkdel.auth keep working after the split into iam and secret_flags."""
    assert bulkdel.auth.IamPasswordAuth is bulkdel.iam.IamPasswordAuth
    assert bulkdel.auth.SECRET_FLAGS is bulkdel.secret_flags.SECRET_FLAGS
    assert bulkdel.auth.refuse_secret_flags is bulkdel.secret_flags.refuse_secret_flags
    assert bulkdel.auth.redact is bulkdel.secret_flags.redact


def test_secret_flags_import_is_light() -> None:
    """The pre-command secret check loads neither aiohttp nor the auth stack (fast --help)."""
    code = (
        "import sys, bulkdel.secret_flags; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('aiohttp', 'structlog', 'click', 'ssl') or m in ('bulkdel.auth', 'bulkdel.iam')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == "[]"


# ---- on_secret -----------------------------------------------------------------------------


def test_env_tells_on_secret_every_static_secret(tmp_path: Path) -> None:
    """Token file, env token and AK/SK (with security token) are all handed to on_secret."""
    token_file = tmp_path / "tok"
    token_file.write_text("file-token-1\n")
    token_file.chmod(0o600)
    cases: list[tuple[dict[str, str], dict[str, Any], list[str]]] = [
        ({}, {"token_file": str(token_file)}, ["file-token-1"]),
        ({"OS_AUTH_TOKEN": "os-token-1"}, {}, ["os-token-1"]),
        (
            {
                "HUAWEICLOUD_SDK_AK": "AKEXAMPLE12345",
                "HUAWEICLOUD_SDK_SK": SK,
                "HUAWEICLOUD_SDK_SECURITY_TOKEN": "sts-abcdef",
            },
            {},
            [SK, "sts-abcdef"],
        ),
        (
            {"BULKDEL_PASSWORD": PASSWORD},
            {"username": "u", "domain": "d", "auth_url": IAM},
            [PASSWORD],
        ),
    ]
    for env, kw, expected in cases:
        told: list[str] = []
        _resolve(env, on_secret=told.append, **kw)
        assert told == expected, kw or env
