"""Unit tests of the DC HTTP client against aioresponses (no sockets)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aioresponses import aioresponses

from bulkdel.client import DcClient, make_session, parse_error_body
from bulkdel.errors import ApiError, AuthError
from bulkdel.models import Action
from bulkdel.policy import classify

ENDPOINT = "https://dcaas.example.test"
PROJECT = "0605768a3300d5762f82c01180692873"
PEER = "68250543-0a13-4ac7-aa36-d018856ac640"
DELETE_URL = f"{ENDPOINT}/v3/{PROJECT}/dcaas/vif-peers/{PEER}"
LIST_RE = re.compile(rf"^{ENDPOINT}/v3/{PROJECT}/dcaas/virtual-interfaces.*$")


class FakeAuth:
    """Adds a static header and counts refreshes."""

    can_refresh = True
    fixed_headers = None

    def __init__(self) -> None:
        self.refreshed = 0

    async def apply(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        headers["X-Auth-Token"] = "tok-123456"

    async def refresh(self) -> None:
        self.refreshed += 1


@pytest.fixture
async def client() -> AsyncIterator[DcClient]:
    session = make_session(concurrency=4, timeout_s=5)
    try:
        yield DcClient(ENDPOINT, PROJECT, FakeAuth(), session, timeout_s=5)
    finally:
        await session.close()


async def test_delete_204_is_a_plain_success(client: DcClient) -> None:
    """A 204 maps to status 204 with no error fields and the request id header kept."""
    with aioresponses() as m:
        m.delete(DELETE_URL, status=204, headers={"X-Request-Id": "r1"})
        resp = await client.delete_vif_peer(PEER)
    assert resp.status == 204
    assert resp.error_code is None
    assert resp.request_id == "r1"


async def test_delete_sends_the_auth_header(client: DcClient) -> None:
    """The auth provider's headers go out with the request."""
    with aioresponses() as m:
        m.delete(DELETE_URL, status=204)
        await client.delete_vif_peer(PEER)
        (call,) = next(iter(m.requests.values()))
    assert call.kwargs["headers"]["X-Auth-Token"] == "tok-123456"


async def test_flat_error_body_is_parsed(client: DcClient) -> None:
    """The flat DC error shape gives code, message and request id."""
    body = {"error_code": "DC.0002", "error_msg": "peer not found", "request_id": "body-rid"}
    with aioresponses() as m:
        m.delete(DELETE_URL, status=400, payload=body)
        resp = await client.delete_vif_peer(PEER)
    assert (resp.status, resp.error_code, resp.error_msg) == (400, "DC.0002", "peer not found")
    assert resp.request_id == "body-rid"


async def test_nested_error_body_and_header_request_id(client: DcClient) -> None:
    """A nested {"error": {code, message}} body is read and X-Request-Id beats the body."""
    body = {"error": {"code": "APIGW.0308", "message": "throttled"}, "request_id": "body"}
    with aioresponses() as m:
        m.delete(DELETE_URL, status=429, payload=body, headers={"X-Request-Id": "hdr"})
        resp = await client.delete_vif_peer(PEER)
    assert (resp.status, resp.error_code, resp.error_msg) == (429, "APIGW.0308", "throttled")
    assert resp.request_id == "hdr"


async def test_retry_after_seconds(client: DcClient) -> None:
    """Retry-After in seconds is passed on as a float."""
    with aioresponses() as m:
        m.delete(DELETE_URL, status=429, headers={"Retry-After": "3"}, payload={})
        resp = await client.delete_vif_peer(PEER)
    assert resp.retry_after_s == pytest.approx(3.0)


async def test_retry_after_http_date(client: DcClient) -> None:
    """Retry-After as an HTTP date becomes seconds from now."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    with aioresponses() as m:
        m.delete(DELETE_URL, status=503, headers={"Retry-After": when}, body="busy")
        resp = await client.delete_vif_peer(PEER)
    assert resp.retry_after_s is not None
    assert 25 <= resp.retry_after_s <= 31
    assert resp.error_msg == "busy"


async def test_html_from_a_proxy_is_summarised(client: DcClient) -> None:
    """An HTML error page becomes a short one-line message, not a crash."""
    html = "<html><body><h1>502 Bad Gateway</h1>" + "x" * 100_000 + "</body></html>"
    with aioresponses() as m:
        m.delete(DELETE_URL, status=502, body=html, content_type="text/html")
        resp = await client.delete_vif_peer(PEER)
    assert resp.status == 502
    assert resp.error_code is None
    assert resp.error_msg is not None
    assert len(resp.error_msg) <= 200


async def test_transport_error_is_a_value(client: DcClient) -> None:
    """A connection failure is returned as status None with the error kind, not raised."""
    with aioresponses() as m:
        m.delete(DELETE_URL, exception=aiohttp.ServerDisconnectedError())
        resp = await client.delete_vif_peer(PEER)
    assert resp.status is None
    assert resp.transport_error == "ServerDisconnectedError"


async def test_timeout_is_a_value(client: DcClient) -> None:
    """A timeout is returned as status None with transport_error 'timeout'."""
    with aioresponses() as m:
        m.delete(DELETE_URL, exception=TimeoutError())
        resp = await client.delete_vif_peer(PEER)
    assert (resp.status, resp.transport_error) == (None, "timeout")


async def test_list_returns_the_body_and_sends_limit_and_marker(client: DcClient) -> None:
    """A list page returns its JSON body; limit and marker go out in the query."""
    page = {"virtual_interfaces": [], "page_info": {"next_marker": ""}, "request_id": "abc"}
    with aioresponses() as m:
        m.get(LIST_RE, payload=page)
        resp, doc = await client.list_virtual_interfaces(limit=5, marker="m1")
        ((_method, url),) = m.requests.keys()
    assert resp.status == 200
    assert doc == page
    assert resp.request_id == "abc"
    assert url.query["limit"] == "5"
    assert url.query["marker"] == "m1"


async def test_list_non_json_200_is_a_transport_style_failure(client: DcClient) -> None:
    """A 200 whose body is not JSON is reported as a retryable failure, not parsed."""
    with aioresponses() as m:
        m.get(LIST_RE, body="<html>login</html>", status=200)
        resp, doc = await client.list_virtual_interfaces()
    assert doc is None
    assert resp.status is None
    assert resp.transport_error == "bad_body"


def test_parse_error_body_variants() -> None:
    """camelCase, code/message and non-JSON bodies are all understood."""
    assert parse_error_body(b'{"errorCode":"X.1","errorMsg":"m"}', {})[:2] == ("X.1", "m")
    assert parse_error_body(b'{"code":"Y.2","message":"n"}', {})[:2] == ("Y.2", "n")
    assert parse_error_body(b"plain text", {"X-Request-Id": "r"}) == (None, "plain text", "r")
    assert parse_error_body(b"", {}) == (None, None, None)


def test_session_does_not_resend_requests_on_its_own() -> None:
    """aiohttp's silent resend of idempotent requests is switched off."""
    import asyncio

    async def check() -> bool:
        session = make_session(concurrency=1, timeout_s=1)
        try:
            return bool(getattr(session, "_retry_connection", False))
        finally:
            await session.close()

    assert asyncio.run(check()) is False


class RefusingAuth(FakeAuth):
    """An IAM provider whose token request is refused."""

    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    async def apply(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "kind", "action"),
    [
        (AuthError("IAM refused user u"), "credentials_refused", Action.STOP),
        (ApiError("IAM unreachable"), "credentials_unavailable", Action.RETRY),
    ],
)
async def test_credential_failures_become_values(exc: Exception, kind: str, action: Action) -> None:
    """A credential provider failure sends nothing and maps to stop (refused) or retry."""
    session = make_session(concurrency=1, timeout_s=5)
    try:
        client = DcClient(ENDPOINT, PROJECT, RefusingAuth(exc), session)
        with aioresponses() as m:
            resp = await client.delete_vif_peer(PEER)
            assert not m.requests
    finally:
        await session.close()
    assert (resp.status, resp.transport_error) == (None, kind)
    verdict = classify(resp, attempt=1, max_attempts=5, can_refresh=True, refreshed=False)
    assert verdict.action is action


def test_proxy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY applies, NO_PROXY exempts a host; both are read once per URL."""
    from bulkdel.client import proxy_for

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "dcaas.internal.example")
    proxy_for.cache_clear()
    try:
        assert proxy_for("https://dcaas.eu-de.otc.t-systems.com") == "http://proxy.example:3128"
        assert proxy_for("https://dcaas.internal.example") is None
    finally:
        proxy_for.cache_clear()


async def test_a_static_token_is_sent_without_a_call_per_request() -> None:
    """TokenAuth's fixed headers go out on every DELETE; apply() is not needed for them."""
    from yarl import URL

    from bulkdel.auth import TokenAuth

    auth = TokenAuth("tok-" + "x" * 40, "BULKDEL_TOKEN")
    assert "tok-" not in repr(auth)

    async def refuse(*_args: object) -> None:
        raise AssertionError("apply() called for a static token")

    auth.apply = refuse  # type: ignore[method-assign,assignment]
    session = make_session(concurrency=2, timeout_s=5)
    try:
        client = DcClient(ENDPOINT, PROJECT, auth, session, timeout_s=5)
        with aioresponses() as m:
            m.delete(DELETE_URL, status=204)
            m.delete(DELETE_URL, status=204)
            first = await client.delete_vif_peer(PEER)
            second = await client.delete_vif_peer(PEER)
            sent = m.requests[("DELETE", URL(DELETE_URL))]
    finally:
        await session.close()
    assert (first.status, second.status) == (204, 204)
    for call in sent:
        headers = call.kwargs["headers"]
        assert headers["X-Auth-Token"] == "tok-" + "x" * 40
        assert headers["Accept"] == "application/json"
