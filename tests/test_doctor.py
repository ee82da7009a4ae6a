"""Tests of `bulkdel doctor` against a real loopback DC (and IAM) stand-in."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

import bulkdel.connect
from bulkdel.connect import ConnOptions
from bulkdel.doctor import Check, DoctorReport, doctor
from bulkdel.logs import REDACTOR

PROJECT = "0605768a3300d5762f82c01180692873"
TOKEN = "tok-DOCTOR-distinctive-4711"
PASSWORD = "pw-DOCTOR-distinctive-0815"
SK = "sk-DOCTOR-distinctive-1234567"
VIF = "0326324d-fb69-4ffb-ba18-90c78092b4d4"


@dataclass
class FakeDc:
    """Answers the list route (and IAM tokens); echoes the offered token in its 401 body."""

    calls: list[str] = field(default_factory=list)

    async def list_vifs(self, request: web.Request) -> web.Response:
        self.calls.append(request.path_qs)
        offered = request.headers.get("X-Auth-Token", "")
        if offered != TOKEN:
            return web.json_response(
                {
                    "error_code": "APIGW.0301",
                    "error_msg": f"Incorrect IAM authentication information: {offered}",
                    "request_id": "rid-refused",
                },
                status=401,
            )
        return web.json_response(
            {
                "request_id": "rid-body",
                "virtual_interfaces": [{"id": VIF, "vif_peers": []}],
                "page_info": {"current_count": 1, "next_marker": VIF},
            },
            headers={"X-Request-Id": "rid-1234"},
        )

    async def tokens(self, request: web.Request) -> web.Response:
        doc = await request.json()
        password = doc["auth"]["identity"]["password"]["user"]["password"]
        if password != PASSWORD:
            body = {"error": {"code": 401, "message": f"wrong password {password}"}}
            return web.json_response(body, status=401)
        return web.json_response(
            {"token": {"expires_at": "2099-01-01T00:00:00Z"}},
            status=201,
            headers={"X-Subject-Token": TOKEN},
        )


@pytest.fixture
async def dc() -> AsyncIterator[tuple[FakeDc, str]]:
    fake = FakeDc()
    app = web.Application()
    app.router.add_get("/v3/{project_id}/dcaas/virtual-interfaces", fake.list_vifs)
    app.router.add_post("/v3/auth/tokens", fake.tokens)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture(autouse=True)
def fresh_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with a redactor that knows no secret (no masking by luck)."""
    monkeypatch.setattr(REDACTOR, "secrets", [])


def _conn(endpoint: str, **kw: Any) -> ConnOptions:
    kw.setdefault("project_id", PROJECT)
    return ConnOptions(endpoint=endpoint, timeout_s=5.0, **kw)


def _line(report: DoctorReport, name: str) -> Check:
    return next(c for c in report.checks if c.name == name)


def _free_port() -> int:
    with socket.socket() as sock:  # free a moment ago: connection refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_good_token_is_ready(dc: tuple[FakeDc, str]) -> None:
    """A good token: every check passes, one list call with limit=1, exit 0, `ready`."""
    fake, url = dc
    report = await doctor(_conn(url), {"BULKDEL_TOKEN": TOKEN})
    assert report.ready
    assert report.exit_code == 0
    assert [c.name for c in report.checks] == [
        "endpoint",
        "project",
        "credentials",
        "transport",
        "reachable",
        "accepted",
        "listing",
    ]
    assert fake.calls == [f"/v3/{PROJECT}/dcaas/virtual-interfaces?limit=1"]
    text = report.render()
    assert "request id rid-1234" in text
    assert "token from BULKDEL_TOKEN" in text
    assert "plain http to loopback" in text
    assert "1 virtual interface(s) on the first page (limit 1), more follow" in text
    assert all(line.startswith("✓ ") for line in text.splitlines()[:-1])
    assert TOKEN in REDACTOR.secrets  # open_client registered the token for log redaction
    assert text.splitlines()[-1].startswith("ready")


async def test_bad_token_is_exit_4(dc: tuple[FakeDc, str]) -> None:
    """A refused token: reachable but not accepted, with the API error code, exit 4."""
    _, url = dc
    report = await doctor(_conn(url), {"BULKDEL_TOKEN": "tok-wrong-5678"})
    assert report.exit_code == 4
    assert _line(report, "reachable").ok
    accepted = _line(report, "accepted")
    assert not accepted.ok
    assert "HTTP 401 APIGW.0301" in accepted.detail
    assert "tok-wrong-5678" not in report.render()  # the server echoed it back
    assert report.render().splitlines()[-1].startswith("not ready (exit 4)")


async def test_unreachable_port_is_exit_1() -> None:
    """Nothing listening: the reachable check fails and names the endpoint, exit 1."""
    url = f"http://127.0.0.1:{_free_port()}"
    report = await doctor(_conn(url), {"BULKDEL_TOKEN": TOKEN})
    assert report.exit_code == 1
    reachable = _line(report, "reachable")
    assert not reachable.ok
    assert f"no answer from {url}" in reachable.detail
    assert report.request_sent


async def test_missing_project_is_exit_2_and_sends_nothing(dc: tuple[FakeDc, str]) -> None:
    """No project ID: exit 2, the fix is named, and no request leaves."""
    fake, url = dc
    report = await doctor(_conn(url, project_id=None), {"BULKDEL_TOKEN": TOKEN})
    assert report.exit_code == 2
    assert "BULKDEL_PROJECT_ID" in _line(report, "project").detail
    assert fake.calls == []
    assert not report.request_sent
    assert report.render().endswith("no request was sent")


async def test_every_config_problem_is_reported_at_once() -> None:
    """Bad endpoint, bad project and missing credentials are three ✗ lines, not one."""
    conn = ConnOptions(endpoint="ftp://dc.example", project_id="nope")
    report = await doctor(conn, {})
    failed = {c.name: c.detail for c in report.checks if not c.ok}
    assert set(failed) == {"endpoint", "project", "credentials"}
    assert "https://" in failed["endpoint"]
    assert "32-hex" in failed["project"]
    assert "BULKDEL_TOKEN" in failed["credentials"]
    assert report.exit_code == 2


@pytest.mark.parametrize(
    ("conn", "needle"),
    [
        (ConnOptions(endpoint="http://10.1.2.3", project_id=PROJECT), "--insecure-http"),
        (ConnOptions(endpoint="https://dc.example", project_id=PROJECT), "--ca-bundle"),
    ],
)
async def test_transport_policy_is_a_config_problem(
    conn: ConnOptions, needle: str, tmp_path: Path
) -> None:
    """Plain http off loopback, or an unusable CA bundle, fail `transport` before any request."""
    if conn.endpoint and conn.endpoint.startswith("https"):
        junk = tmp_path / "ca.pem"
        junk.write_text("not a certificate\n")
        conn = ConnOptions(endpoint=conn.endpoint, project_id=PROJECT, ca_bundle=str(junk))
    report = await doctor(conn, {"BULKDEL_TOKEN": TOKEN})
    transport = _line(report, "transport")
    assert not transport.ok
    assert needle in transport.detail
    assert report.exit_code == 2
    assert not report.request_sent


async def test_iam_password_auth_gets_a_token_then_lists(dc: tuple[FakeDc, str]) -> None:
    """With --username and BULKDEL_PASSWORD the token comes from IAM and the list succeeds."""
    fake, url = dc
    conn = _conn(url, username="ops-bot", domain="acme", auth_url=url)
    report = await doctor(conn, {"BULKDEL_PASSWORD": PASSWORD})
    assert report.exit_code == 0, report.render()
    assert "IAM password auth: user ops-bot" in _line(report, "credentials").detail
    assert "IAM plain http to loopback" in _line(report, "transport").detail
    assert f"token obtained from IAM at {url}" in _line(report, "accepted").detail
    assert TOKEN in REDACTOR.secrets  # open_client taught the log redactor the new token
    assert len(fake.calls) == 1


async def test_iam_refusing_the_password_is_exit_4(dc: tuple[FakeDc, str]) -> None:
    """IAM refusing the password is `accepted` ✗ with exit 4; the echoed password is hidden."""
    _, url = dc
    conn = _conn(url, username="ops-bot", domain="acme", auth_url=url)
    report = await doctor(conn, {"BULKDEL_PASSWORD": "pw-wrong-9999"})
    assert report.exit_code == 4
    assert "IAM refused the credentials" in _line(report, "accepted").detail
    assert "pw-wrong-9999" not in report.render()


@pytest.mark.parametrize("scenario", ["accepted", "refused", "unreachable"])
async def test_no_secret_reaches_report_logs_or_streams(
    dc: tuple[FakeDc, str],
    scenario: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With token, SK and password set, none of them shows in render(), log events or output."""
    _, url = dc
    if scenario == "unreachable":
        url = f"http://127.0.0.1:{_free_port()}"
    # A refused token is echoed back in the 401 body by the stand-in, as some gateways do.
    token = TOKEN if scenario != "refused" else "tok-DOCTOR-refused-2222"
    env = {
        "BULKDEL_TOKEN": token,
        "HUAWEICLOUD_SDK_AK": "AKDOCTOREXAMPLE1",
        "HUAWEICLOUD_SDK_SK": SK,
        "BULKDEL_PASSWORD": PASSWORD,
    }
    # A fresh logger proxy, so capture_logs sees connect's events even if an earlier test
    # configured structlog to cache loggers.
    monkeypatch.setattr(bulkdel.connect, "log", structlog.get_logger("bulkdel.connect"))
    caplog.set_level(logging.DEBUG)
    conn = _conn(url, username="ops-bot", domain="acme", auth_url=url)
    with structlog.testing.capture_logs() as events:
        report = await doctor(conn, env)
    out = capsys.readouterr()
    assert any(e.get("event") == "connect.using" for e in events)  # the capture works
    assert "several credentials are set" in _line(report, "credentials").detail
    haystack = "\n".join(
        [report.render(), repr(report), repr(events), caplog.text, out.out, out.err]
    )
    for secret in (token, SK, PASSWORD):
        assert secret not in haystack, scenario
    assert report.exit_code == {"accepted": 0, "refused": 4, "unreachable": 1}[scenario]


@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from([1, 2, 4])),
        min_size=1,
        max_size=8,
    )
)
def test_exit_code_follows_the_most_fundamental_failure(items: list[tuple[bool, int]]) -> None:
    """0 iff all pass; else config (2) beats auth (4) beats network (1); render agrees."""
    report = DoctorReport(
        checks=tuple(
            Check(f"c{i}", ok, "d", 0 if ok else code) for i, (ok, code) in enumerate(items)
        )
    )
    failed = {code for ok, code in items if not ok}
    expected = next((c for c in (2, 4, 1) if c in failed), 0)
    assert report.exit_code == expected
    lines = report.render().splitlines()
    assert len(lines) == len(items) + 1
    assert lines[-1].startswith("ready" if expected == 0 else f"not ready (exit {expected})")
    assert [line[0] for line in lines[:-1]] == ["✓" if ok else "✗" for ok, _ in items]
