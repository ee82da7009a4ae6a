"""Tests of IAM password auth: token fetch and renewal, failures, and secret hygiene."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bulkdel.clock import FakeClock
from bulkdel.errors import ApiError, AuthError, BulkdelError, ConfigError
from bulkdel.iam import IamPasswordAuth
from bulkdel.logs import Redactor

PROJECT = "0605768a3300d5762f82c01180692873"
IAM = "https://iam.example.test"
PASSWORD = "pw-Very-Secret-123"
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# ---- IamPasswordAuth -------------------------------------------------------------------------
# A real IAM stand-in on loopback, so the tests see what aiohttp really sends and receives.


def _token_body(issued: datetime, hours: float = 24) -> dict[str, Any]:
    expires = issued + timedelta(hours=hours)
    return {
        "token": {
            "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "methods": ["password"],
        }
    }


class FakeIam:
    """Answers `POST /v3/auth/tokens` from a script, then issues numbered tokens."""

    def __init__(self) -> None:
        self.calls = 0
        self.issued = 0
        self.bodies: list[dict[str, Any]] = []
        self.queries: list[str] = []
        self.hours = 24.0
        self.script: list[tuple[int, dict[str, Any], dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.bodies.append(await request.json())
        self.queries.append(request.query_string)
        await asyncio.sleep(0.01)  # let concurrent callers pile up behind the lock
        if self.script:
            status, payload, headers = self.script.pop(0)
            return web.json_response(payload, status=status, headers=headers)
        self.issued += 1
        return web.json_response(
            _token_body(NOW, self.hours),
            status=201,
            headers={"X-Subject-Token": f"token-number-{self.issued}"},
        )


@pytest.fixture
async def fake_iam() -> AsyncIterator[tuple[FakeIam, str]]:
    iam = FakeIam()
    app = web.Application()
    app.router.add_post("/v3/auth/tokens", iam.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield iam, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _iam(
    session: aiohttp.ClientSession, url: str, clock: FakeClock | None = None, **kw: Any
) -> IamPasswordAuth:
    kw.setdefault("project_id", PROJECT)
    return IamPasswordAuth(
        url + "/v3/", "ops-bot", "acme", PASSWORD, session=session, clock=clock or FakeClock(), **kw
    )


async def _token_of(auth: IamPasswordAuth) -> str:
    headers: dict[str, str] = {}
    await auth.apply("DELETE", "https://h/x", headers, b"")
    return headers["X-Auth-Token"]


async def test_iam_issues_a_project_scoped_token(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """The first request fetches a token scoped by project id; later ones reuse it."""
    iam, url = fake_iam
    auth = _iam(session, url)
    assert await _token_of(auth) == "token-number-1"
    assert await _token_of(auth) == "token-number-1"
    assert iam.calls == 1
    assert iam.queries == ["nocatalog=true"]
    body = iam.bodies[0]["auth"]
    assert body["identity"]["methods"] == ["password"]
    assert body["identity"]["password"]["user"] == {
        "name": "ops-bot",
        "password": PASSWORD,
        "domain": {"name": "acme"},
    }
    assert body["scope"] == {"project": {"id": PROJECT}}
    assert auth.can_refresh is True


async def test_iam_scopes_by_project_name_without_id(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """With only a project name the scope is by name (OTC: the region name)."""
    iam, url = fake_iam
    await _token_of(_iam(session, url, project_id=None, project_name="eu-de"))
    assert iam.bodies[0]["auth"]["scope"] == {"project": {"name": "eu-de"}}


async def test_iam_renews_before_expiry(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """A 1 h token is reused until 5 minutes before it expires, then renewed."""
    iam, url = fake_iam
    iam.hours = 1
    clock = FakeClock()
    auth = _iam(session, url, clock)
    assert await _token_of(auth) == "token-number-1"
    clock.advance(3300 - 1)
    assert await _token_of(auth) == "token-number-1"
    clock.advance(2)
    assert await _token_of(auth) == "token-number-2"
    assert auth.token_fetches == 2


async def test_iam_refresh_on_demand(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """refresh() fetches a new token even when the current one is still valid."""
    _, url = fake_iam
    auth = _iam(session, url)
    await _token_of(auth)
    await auth.refresh()
    assert await _token_of(auth) == "token-number-2"


async def test_iam_concurrent_callers_share_one_request(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """Fifty concurrent requests and fifty concurrent refreshes each cost one token request."""
    iam, url = fake_iam
    auth = _iam(session, url)
    tokens = await asyncio.gather(*(_token_of(auth) for _ in range(50)))
    assert set(tokens) == {"token-number-1"}
    assert iam.calls == 1
    await asyncio.gather(*(auth.refresh() for _ in range(50)))
    assert iam.calls == 2
    # A request that starts while a refresh is in flight waits for the new token.
    refreshing = asyncio.create_task(auth.refresh())
    await asyncio.sleep(0)
    assert await _token_of(auth) == "token-number-3"
    await refreshing
    assert iam.calls == 3


async def test_iam_401_is_an_auth_error_without_the_password(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """IAM refusing the password names user, domain, IAM's message and BULKDEL_PASSWORD."""
    iam, url = fake_iam
    body = {"error": {"code": 401, "message": f"bad password {PASSWORD}", "title": "Unauthorized"}}
    iam.script = [(401, body, {})]
    with pytest.raises(AuthError) as err:
        await _token_of(_iam(session, url))
    text = str(err.value)
    for needle in ("ops-bot", "acme", "HTTP 401", "401: bad password ***", "BULKDEL_PASSWORD"):
        assert needle in text
    assert PASSWORD not in text
    assert err.value.exit_code == 4
    assert iam.calls == 1  # a refused password is never retried (AK/SK-style lockouts)


async def test_iam_429_is_retried_with_retry_after(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """Throttled token requests are retried after Retry-After (else backoff), then succeed."""
    iam, url = fake_iam
    throttled = {"error_code": "IAM.0012", "error_msg": "throttling threshold reached"}
    iam.script = [(429, throttled, {"Retry-After": "3"}), (503, {}, {})]
    clock = FakeClock()
    assert await _token_of(_iam(session, url, clock)) == "token-number-1"
    assert clock.sleeps == [3.0, 2.0]


async def test_iam_persistent_429_says_iam_is_throttling(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """After the last attempt a 429 becomes an ApiError saying IAM is throttling."""
    iam, url = fake_iam
    iam.script = [(429, {"error_code": "IAM.0012"}, {})] * 3
    with pytest.raises(ApiError, match=r"throttling.*IAM\.0012"):
        await _token_of(_iam(session, url, max_attempts=3))
    assert iam.calls == 3


async def test_iam_connection_error_names_the_auth_url(session: aiohttp.ClientSession) -> None:
    """An unreachable IAM gives an ApiError naming the auth URL and what to check."""
    with socket.socket() as sock:  # a port that was free a moment ago: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = FakeClock()
    auth = _iam(session, f"http://127.0.0.1:{port}", clock, max_attempts=2)
    with pytest.raises(ApiError, match=rf"127\.0\.0\.1:{port}.*--auth-url"):
        await _token_of(auth)
    assert clock.sleeps == [1.0]


async def test_iam_404_points_at_the_auth_url(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """A 404 from the token URL means --auth-url is wrong: a ConfigError."""
    _, url = fake_iam
    with pytest.raises(ConfigError, match="--auth-url"):
        await _token_of(_iam(session, url + "/wrong"))


async def test_iam_answer_without_subject_token(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """A 201 without X-Subject-Token is an ApiError questioning the auth URL."""
    iam, url = fake_iam
    iam.script = [(201, _token_body(NOW), {})]
    with pytest.raises(ApiError, match="X-Subject-Token"):
        await _token_of(_iam(session, url))


async def test_iam_secrets_include_the_token(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """After a fetch the token joins the password among the secrets to redact."""
    _, url = fake_iam
    auth = _iam(session, url)
    assert auth.secrets() == (PASSWORD,)
    await _token_of(auth)
    assert auth.secrets() == (PASSWORD, "token-number-1")


async def test_iam_without_a_session_opens_its_own(fake_iam: tuple[FakeIam, str]) -> None:
    """Without a shared session the provider opens (and closes) one per token request."""
    iam, url = fake_iam
    auth = IamPasswordAuth(url, "ops-bot", "acme", PASSWORD, project_id=PROJECT)
    assert await _token_of(auth) == "token-number-1"
    assert iam.calls == 1


def test_iam_repr_and_describe_hide_password_and_token() -> None:
    """repr, str and describe() never contain the password or the token."""
    auth = IamPasswordAuth(IAM, "ops-bot", "acme", PASSWORD, project_id=PROJECT)
    auth._token = "token-number-9"  # as after a fetch, without the network
    for text in (repr(auth), str(auth), auth.describe()):
        assert PASSWORD not in text
        assert "token-number-9" not in text
    assert auth.secrets() == (PASSWORD, "token-number-9")


def test_iam_needs_a_project() -> None:
    """A token without project scope cannot call DC, so it is refused up front."""
    with pytest.raises(ConfigError, match="--project-id"):
        IamPasswordAuth(IAM, "u", "d", PASSWORD)


async def test_iam_unusable_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    """A CA bundle that is missing or holds no certificate is a ConfigError, not a crash."""
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    for path in (junk, tmp_path / "absent.pem"):
        auth = IamPasswordAuth(IAM, "u", "d", PASSWORD, project_id=PROJECT, ca_bundle=str(path))
        with pytest.raises(ConfigError, match="--ca-bundle"):
            await _token_of(auth)


# ---- on_secret: the log redactor learns every token ------------------------------------------


async def test_on_secret_hears_the_password_and_each_new_token_once(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """The password at construction, then each token once, however many callers share it."""
    told: list[str] = []
    auth = _iam(session, fake_iam[1], on_secret=told.append)
    assert told == [PASSWORD]
    await asyncio.gather(*(_token_of(auth) for _ in range(20)))
    await asyncio.gather(*(auth.refresh() for _ in range(20)))
    assert told == [PASSWORD, "token-number-1", "token-number-2"]


async def test_on_secret_lets_the_redactor_mask_renewed_tokens(
    session: aiohttp.ClientSession, fake_iam: tuple[FakeIam, str]
) -> None:
    """With on_secret=Redactor.add, a log event carrying a renewed token is masked."""
    redactor = Redactor()
    clock = FakeClock()
    auth = _iam(session, fake_iam[1], clock, on_secret=redactor.add)
    first = await _token_of(auth)
    clock.advance(24 * 3600)  # past expiry: the next request renews the token
    second = await _token_of(auth)
    assert first != second
    event = redactor(
        None,
        "info",
        {"event": "request", "headers": f"X-Auth-Token: {second}", "old": first, "pw": PASSWORD},
    )
    assert event == {
        "event": "request",
        "headers": "X-Auth-Token: ***",
        "old": "***",
        "pw": "***",
    }


# ---- failures during a run: right error class, no secret in the message ---------------------

ECHO = {"error": {"code": "IAM.0001", "message": f"bad {PASSWORD} / token-number-1"}}


@pytest.mark.parametrize("via", ["refresh", "apply"])
@pytest.mark.parametrize(
    ("script", "kind", "exit_code", "needle"),
    [
        ([(401, ECHO, {})], AuthError, 4, "refused the credentials"),
        ([(403, ECHO, {})], AuthError, 4, "HTTP 403"),
        ([(400, ECHO, {})], AuthError, 4, "rejected the token request"),
        ([(404, ECHO, {})], ApiError, 1, "stopped serving"),
        ([(503, ECHO, {})] * 2, ApiError, 1, "keeps failing"),
        ([(429, ECHO, {})] * 2, ApiError, 1, "throttling"),
        ([(201, ECHO, {})], ApiError, 1, "X-Subject-Token"),
    ],
)
async def test_iam_failure_mid_run_is_a_clean_run_level_error(
    session: aiohttp.ClientSession,
    fake_iam: tuple[FakeIam, str],
    via: str,
    script: list[tuple[int, dict[str, Any], dict[str, str]]],
    kind: type[BulkdelError],
    exit_code: int,
    needle: str,
) -> None:
    """After a token was in use, refusals are AuthError (exit 4), outages ApiError (exit 1),
    and the message holds neither the password nor the token even when IAM echoes them."""
    iam, url = fake_iam
    clock = FakeClock()
    auth = _iam(session, url, clock, max_attempts=2)
    assert await _token_of(auth) == "token-number-1"
    iam.script = list(script)
    if via == "apply":
        clock.advance(24 * 3600)  # the token expired: the next request fetches a new one
    with pytest.raises(BulkdelError) as err:
        await (auth.refresh() if via == "refresh" else _token_of(auth))
    exc = err.value
    assert type(exc) is kind
    assert exc.exit_code == exit_code
    assert needle in str(exc)
    for text in (str(exc), repr(exc)):
        assert PASSWORD not in text
        assert "token-number-1" not in text
    assert exc.__cause__ is None


async def test_iam_gone_mid_run_is_an_api_error(session: aiohttp.ClientSession) -> None:
    """IAM becoming unreachable after issuing a token is an ApiError naming the auth URL."""
    iam = FakeIam()
    app = web.Application()
    app.router.add_post("/v3/auth/tokens", iam.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = f"http://127.0.0.1:{server.port}"
    auth = _iam(session, url, FakeClock(), max_attempts=2)
    await _token_of(auth)
    await server.close()
    with pytest.raises(ApiError) as err:
        await auth.refresh()
    assert err.value.exit_code == 1
    assert f"cannot reach IAM at {url}" in str(err.value)
    assert PASSWORD not in str(err.value)
    assert "token-number-1" not in str(err.value)
