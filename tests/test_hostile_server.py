"""Hostile server: huge, endless or non-JSON bodies, proxy HTML, looping pages, absurd Retry-After.

A small aiohttp app on loopback plays the DC API badly; the real CLI runs against it in a
subprocess whose peak memory is read with wait4. Every case must end in bounded time and
memory, with a clear error or a readable per-peer reason, and capped server text in the log.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bulkdel.simulator import Fleet, generate_fleet, running_simulator

from .conftest import cli_env, read_jsonl

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN = "hostile-test-token-" + "z" * 40
#: Peak RSS a bulkdel run may reach against a hostile server (a plain run needs about 60 MB).
MAX_RSS_MB = 120
CAPPED = 500  # audit.MAX_ERROR_MSG
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
    "</html>\r\n" + "<!-- a padding comment that proxies add -->\r\n" * 6
)


@dataclass
class Hostile:
    """A running hostile server and what it saw."""

    endpoint: str
    fleet: Fleet
    deletes: list[str] = field(default_factory=list)
    markers: list[str | None] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """CLI environment pointing at this server."""
        env = cli_env(None)
        env.update(
            BULKDEL_TOKEN=TOKEN,
            BULKDEL_ENDPOINT=self.endpoint,
            BULKDEL_PROJECT_ID=self.fleet.project_id,
        )
        return env

    def v6(self) -> list[str]:
        """IPv6 peer IDs (deletable without protection)."""
        return [
            p["id"]
            for v in self.fleet.to_listing()["virtual_interfaces"]
            for p in v["vif_peers"]
            if p["address_family"] == "ipv6"
        ]


@contextmanager
def hostile_server(
    *,
    delete: Handler | None = None,
    listing: Callable[[Hostile, web.Request], Awaitable[web.StreamResponse]] | None = None,
    interfaces: int = 4,
) -> Iterator[Hostile]:
    """Serve a DC-shaped app with the given DELETE / list handlers in a background thread."""
    fleet = generate_fleet(interfaces, seed=77, two_peer_ratio=1.0)
    box: dict[str, Any] = {}
    ready = threading.Event()

    async def default_listing(h: Hostile, request: web.Request) -> web.StreamResponse:
        docs, nxt = h.fleet.page(limit=int(request.query.get("limit", "2000")))
        return web.json_response({"virtual_interfaces": docs, "page_info": {"next_marker": nxt}})

    async def list_route(request: web.Request) -> web.StreamResponse:
        h: Hostile = box["hostile"]
        h.markers.append(request.query.get("marker"))
        return await (listing or default_listing)(h, request)

    async def delete_route(request: web.Request) -> web.StreamResponse:
        box["hostile"].deletes.append(request.match_info["peer"])
        if delete is None:
            return web.Response(status=204)
        return await delete(request)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/v3/{p}/dcaas/virtual-interfaces", list_route)
        app.router.add_delete("/v3/{p}/dcaas/vif-peers/{peer}", delete_route)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        box["hostile"] = Hostile(f"http://{host}:{port}", fleet)
        box["loop"] = asyncio.get_running_loop()
        box["stop"] = stop = asyncio.Event()
        ready.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(10), "the hostile server did not start"
    try:
        yield box["hostile"]
    finally:
        with suppress(RuntimeError):
            box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(5)


@dataclass
class Measured:
    """A finished CLI process: exit code, output, peak memory and wall time."""

    code: int
    stdout: str
    stderr: str
    max_rss_mb: float
    wall_s: float


def _peak_rss_mb(pid: int) -> float | None:
    """VmHWM of the process once it runs bulkdel (None before its exec, or after it exits).

    Not wait4's ru_maxrss: Linux folds the pre-exec memory (a copy of this big pytest process)
    into it, so a late test would measure pytest, not bulkdel.
    """
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"bulkdel" not in fh.read():
                return None
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def run_measured(args: list[str], env: dict[str, str], timeout_s: float = 60) -> Measured:
    """`python -m bulkdel ARGS`, its peak RSS sampled from /proc while it runs."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bulkdel", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        peak = 0.0
        try:
            while proc.poll() is None:
                if time.monotonic() - started > timeout_s:
                    proc.kill()
                sample = _peak_rss_mb(proc.pid)
                if sample is not None:
                    peak = max(peak, sample)  # VmHWM only grows: the last sample is the peak
                time.sleep(0.005)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Measured(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            peak,
            wall,
        )


def run_args(h: Hostile, tmp_path: Path, *extra: str) -> tuple[list[str], Path]:
    """`run` over the server's IPv6 peers, fast settings, JSON logs."""
    inv = tmp_path / "inv.txt"
    inv.write_text("\n".join(h.v6()) + "\n")
    audit = tmp_path / "a.jsonl"
    args = ["run", str(inv), "--audit", str(audit), "--yes", "--log-format", "json"]
    return [*args, "--rate", "100", "--burst", "4", *extra], audit


def responses(audit: Path) -> list[dict[str, Any]]:
    """The audit log's response records."""
    return [r for r in read_jsonl(audit) if r["event"] == "response"]


def finals(audit: Path) -> list[dict[str, Any]]:
    """The audit log's final records."""
    return [r for r in read_jsonl(audit) if r["event"] == "final"]


# --- error bodies ------------------------------------------------------------------------------


async def _ten_megabytes(request: web.Request) -> web.StreamResponse:
    body = b'{"error_code":"DC.0003","error_msg":"' + b"A" * (10 * 1024 * 1024) + b'"}'
    return web.Response(status=500, body=body, content_type="application/json")


async def _endless(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(status=503, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    chunk = b'{"error_msg":"' + b"B" * 65536
    with suppress(ConnectionError, asyncio.CancelledError):
        while True:  # until the client hangs up
            await resp.write(chunk)
    return resp


async def _sixty_kb_json(request: web.Request) -> web.StreamResponse:
    doc = {"error_code": "DC.0003", "error_msg": "C" * 60_000, "request_id": "r" * 5000}
    return web.json_response(doc, status=500, headers={"X-Request-Id": "x" * 1000})


def test_huge_endless_and_oversized_error_bodies_stay_bounded(tmp_path: Path) -> None:
    """10 MB, endless and 60 KB error bodies: capped text, bounded memory and time, exit 1."""
    handlers = [_ten_megabytes, _endless, _sixty_kb_json]
    calls = {"n": 0}

    async def rotate(request: web.Request) -> web.StreamResponse:
        calls["n"] += 1
        return await handlers[calls["n"] % len(handlers)](request)

    with hostile_server(delete=rotate, interfaces=3) as h:
        args, audit = run_args(h, tmp_path, "--max-attempts", "2", "--timeout", "5s")
        m = run_measured(args, h.env())
        assert m.code == 1, m.stderr
        assert 20 < m.max_rss_mb < MAX_RSS_MB, f"peak RSS {m.max_rss_mb:.0f} MB"
        assert m.wall_s < 20
        resp = responses(audit)
        assert len(resp) == 6
        assert {r["status"] for r in resp} == {500, 503}
        for r in resp:
            assert len(r["error_msg"] or "") <= CAPPED
            assert len(r["request_id"] or "") <= 200
            assert r["elapsed_ms"] < 5000, "a body read was not cut short"
        assert {f["outcome"] for f in finals(audit)} == {"failed"}
        assert all(len(f["reason"]) <= 1000 for f in finals(audit))
        assert audit.stat().st_size < 50_000
        assert len(m.stderr) < 50_000


def test_html_from_a_proxy_is_retried_then_failed_readably(tmp_path: Path) -> None:
    """A 502 text/html page is retried like any 5xx and ends failed with a one-line excerpt."""

    async def proxy(request: web.Request) -> web.StreamResponse:
        return web.Response(status=502, text=NGINX_502, content_type="text/html")

    with hostile_server(delete=proxy, interfaces=2) as h:
        args, audit = run_args(h, tmp_path, "--max-attempts", "2")
        m = run_measured(args, h.env())
        assert m.code == 1, m.stderr
        resp = responses(audit)
        first = [r["action"] for r in resp if r["peer_id"] == h.v6()[0]]
        assert first == ["retry", "fail"]
        for r in resp:
            assert r["status"] == 502
            assert "502 Bad Gateway" in r["error_msg"]
            assert "\n" not in r["error_msg"]
            assert len(r["error_msg"]) <= 200
        for f in finals(audit):
            assert f["outcome"] == "failed"
            assert "502" in f["reason"]
        assert "failed=2" in m.stderr


async def _trickle(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(status=500, headers={"Content-Type": "text/plain"})
    await resp.prepare(request)
    with suppress(ConnectionError, asyncio.CancelledError):
        while True:
            await resp.write(b".")
            await asyncio.sleep(0.1)
    return resp


def test_a_body_that_trickles_forever_is_cut_by_the_request_timeout(tmp_path: Path) -> None:
    """Headers then one byte every 100 ms, forever: each attempt ends at --timeout."""
    with hostile_server(delete=_trickle, interfaces=1) as h:
        args, audit = run_args(h, tmp_path, "--max-attempts", "2", "--timeout", "500ms")
        m = run_measured(args, h.env())
        assert m.code == 1, m.stderr
        assert m.wall_s < 10
        resp = responses(audit)
        assert len(resp) == 2
        assert all(r["status"] is None and r["error_code"] == "timeout" for r in resp), resp
        assert all(400 <= r["elapsed_ms"] < 2000 for r in resp)
        (final,) = finals(audit)
        assert "attempts exhausted after 2" in final["reason"]


async def _weird_types(request: web.Request) -> web.StreamResponse:
    body = (
        b'{"error_code": {"nested": [1, 2]}, "error_msg": "bad \\ud800 \\u001b[31mred\\u0000",'
        b' "request_id": 12}'
    )
    return web.Response(status=400, body=body, content_type="application/json")


def test_odd_json_types_and_escapes_in_an_error_body_are_recorded_safely(tmp_path: Path) -> None:
    """Non-string codes, lone surrogates, ANSI and NUL escapes: a valid, readable audit line."""
    with hostile_server(delete=_weird_types, interfaces=1) as h:
        args, audit = run_args(h, tmp_path)
        m = run_measured(args, h.env())
        assert m.code == 1, m.stderr
        raw = audit.read_bytes()
        raw.decode("utf-8")  # still valid UTF-8
        (r,) = responses(audit)
        assert r["status"] == 400
        assert r["action"] == "fail"
        assert isinstance(r["error_code"], str)
        assert "\x1b" not in m.stderr


# --- listing -----------------------------------------------------------------------------------


def test_a_listing_that_repeats_its_marker_stops_without_deleting(tmp_path: Path) -> None:
    """A page whose next_marker never changes: exit 1, "repeats page marker", no DELETE."""

    async def loop(h: Hostile, request: web.Request) -> web.StreamResponse:
        docs, _ = h.fleet.page(limit=1)
        return web.json_response({"virtual_interfaces": docs, "page_info": {"next_marker": "m1"}})

    with hostile_server(listing=loop) as h:
        args, _ = run_args(h, tmp_path)
        m = run_measured(args, h.env())
        assert m.code == 1, m.stderr
        assert "repeats page marker" in m.stderr
        assert "Nothing was deleted" in m.stderr
        assert h.deletes == []
        assert h.markers == [None, "m1"]
        assert m.wall_s < 10


def test_a_page_marker_is_sent_back_verbatim(tmp_path: Path) -> None:
    """A marker with reserved characters reaches the server unchanged (URL-encoded)."""
    marker = "a&limit=1#frag ?x=/+%"

    async def two_pages(h: Hostile, request: web.Request) -> web.StreamResponse:
        docs = h.fleet.to_listing()["virtual_interfaces"]
        if "marker" not in request.query:
            page = {"virtual_interfaces": docs[:2], "page_info": {"next_marker": marker}}
            return web.json_response(page)
        if request.query.getall("marker") != [marker] or request.query.getall("limit") != ["2000"]:
            return web.json_response(
                {"error_code": "DC.0001", "error_msg": "bad query"}, status=400
            )
        return web.json_response({"virtual_interfaces": docs[2:], "page_info": {"next_marker": ""}})

    with hostile_server(listing=two_pages) as h:
        out = tmp_path / "state.json"
        m = run_measured(["export", "--out", str(out), "--log-format", "json"], h.env())
        assert h.markers == [None, marker], h.markers
        assert m.code == 0, m.stderr
        assert len(json.loads(out.read_text())["virtual_interfaces"]) == 4


# --- Retry-After -------------------------------------------------------------------------------

ABSURD_RETRY_AFTER = ["999999999", "Fri, 31 Dec 9999 23:59:59 GMT", "-5", "9" * 400]


def test_absurd_retry_after_values_are_capped(tmp_path: Path) -> None:
    """Retry-After of years, a far date, a negative or an overflowing number: waits ≤ 120 s."""
    peers: dict[str, str] = {}

    async def throttled(request: web.Request) -> web.StreamResponse:
        value = peers[request.match_info["peer"]]
        body = {
            "error_code": "APIGW.0308",
            "error_msg": "The throttling threshold has been reached",
        }
        return web.json_response(body, status=429, headers={"Retry-After": value})

    with hostile_server(delete=throttled, interfaces=4) as h:
        peers.update(zip(h.v6(), ABSURD_RETRY_AFTER, strict=True))
        args, audit = run_args(h, tmp_path, "--max-attempts", "3", "--max-duration", "1s")
        args += ["--drain-timeout", "1s"]
        m = run_measured(args, h.env())
        assert m.code == 3, m.stderr
        assert m.wall_s < 10, "the run waited on an absurd Retry-After"
        by_value = {peers[r["peer_id"]]: r for r in responses(audit)}
        assert set(by_value) == set(ABSURD_RETRY_AFTER)
        for value, r in by_value.items():
            assert r["status"] == 429
            assert r["action"] == "retry"
            assert 1.0 <= r["retry_in_s"] <= 120.0, (value, r["retry_in_s"])
        assert by_value["999999999"]["retry_in_s"] == 120.0
        assert by_value["Fri, 31 Dec 9999 23:59:59 GMT"]["retry_in_s"] == 120.0
        assert {f["outcome"] for f in finals(audit)} == {"deferred"}
        finished = read_jsonl(audit)[-1]
        assert finished["stop_reason"] == "window_closed"


# --- the simulator's own guard -----------------------------------------------------------------


async def test_simulator_records_requests_no_route_matches() -> None:
    """Requests to paths the API does not serve are listed in stats (catches traversal)."""
    async with running_simulator() as sim, aiohttp.ClientSession() as session:
        url = f"{sim.endpoint}/v3/{sim.project_id}/dcaas/virtual-interfaces/x"
        async with session.delete(url, headers={"X-Auth-Token": sim.token}) as r:
            assert r.status == 405
        assert sim.stats()["unrouted"] == [
            f"DELETE /v3/{sim.project_id}/dcaas/virtual-interfaces/x"
        ]
