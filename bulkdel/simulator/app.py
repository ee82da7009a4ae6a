"""The DC v3 subset over HTTP (aiohttp handlers around a Fleet, SimStats and a TokenStore).

Error choices where the real API documents nothing (reference §5c):
- unknown peer on DELETE: 400 `DC.0002` (the documented generic "does not exist");
- last peer of an interface: 400 `DC.1236` (`LAST_PEER_ERROR_CODE`, undocumented upstream);
- unknown interface on show: 404 `DC.1211`; on create: 400 `DC.1211`;
- a project in the path that is not the simulator's: 403 `APIGW.0302` (a permission problem:
  the credentials are not valid for that project), checked after authentication;
- create with a missing field, a taken ID or a taken address family: 400 `DC.0001`;
- injected `5xx` (503) and `applied_500` (500) faults: `DC.0003` (system error);
- unknown route: 404 `APIGW.0101`.
Latency, jitter and faults apply to DELETE only; throttling counts admitted DELETEs only.
`throttle_windows` answer every DELETE 429 while open, counted from the first DELETE.
A stalled DELETE is applied when the stall ends, even if the client has given up by then.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bulkdel.simulator.auth import (
    AKSK_PREFIX,
    FORBIDDEN_CODE,
    TokenStore,
    check_headers,
    parse_password_auth,
    token_body,
)
from bulkdel.simulator.config import (
    FaultKind,
    SimConfig,
    draw_delay_s,
    draw_fault,
    in_throttle_window,
)
from bulkdel.simulator.fleet import CreateResult, DeleteResult, Fleet, generate_fleet
from bulkdel.simulator.stats import SimStats, SlidingWindow

NOT_FOUND_ERROR_CODE = "DC.0002"
LAST_PEER_ERROR_CODE = "DC.1236"
VIF_NOT_FOUND_ERROR_CODE = "DC.1211"
BAD_PARAM_ERROR_CODE = "DC.0001"
BAD_BODY_ERROR_CODE = "DC.0000"
SERVER_ERROR_CODE = "DC.0003"
THROTTLED_ERROR_CODE = "APIGW.0308"
NO_ROUTE_ERROR_CODE = "APIGW.0101"
MAX_LIMIT = 2000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_request_id() -> str:
    """32 hex characters, like the API's request IDs."""
    return os.urandom(16).hex()


def json_response(
    status: int, body: Any, rid: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response carrying `X-Request-Id`."""
    all_headers = {"X-Request-Id": rid}
    if headers:
        all_headers.update(headers)
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=all_headers,
    )


def error_response(
    status: int, code: str, msg: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A flat DC/APIGW error: `{"error_code", "error_msg", "request_id"}`."""
    rid = new_request_id()
    body = {"error_code": code, "error_msg": msg, "request_id": rid}
    return json_response(status, body, rid, headers)


def _iam_error(status: int, title: str, message: str) -> web.Response:
    # Keystone-style body, as IAM's /v3/auth/tokens answers.
    body = {"error": {"code": status, "title": title, "message": message}}
    return json_response(status, body, new_request_id())


class Simulator:
    """One simulated project: its fleet, counters, tokens and the aiohttp application."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.fleet: Fleet = (
            config.fleet.copy()
            if config.fleet is not None
            else generate_fleet(
                config.interfaces, config.seed, two_peer_ratio=config.two_peer_ratio
            )
        )
        self.project_id = self.fleet.project_id
        self.stats = SimStats()
        self.tokens = TokenStore(config.token, config.forbidden_tokens)
        self._rng = random.Random(config.seed)
        self._weights = config.fault_weights()
        self._limiter = SlidingWindow(1.0)
        self._first_delete: float | None = None  # origin of `throttle_windows`
        retry = config.retry_after
        self._throttle_headers = {"Retry-After": f"{retry:g}"} if retry is not None else None
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        # `[^/]+`: aiohttp's default `[^{}/]+` turns an ID with a brace (the SDK sends it as
        # %7B) into a route miss, 404 APIGW.0101, instead of the unknown-ID answer DC.0002.
        dc = "/v3/{project_id:[^/]+}/dcaas"
        app.router.add_get(dc + "/virtual-interfaces", self.list_vifs)
        app.router.add_get(dc + "/virtual-interfaces/{vif_id:[^/]+}", self.show_vif)
        app.router.add_delete(dc + "/vif-peers/{peer_id:[^/]+}", self.delete_peer)
        app.router.add_post(dc + "/vif-peers", self.create_peer)
        app.router.add_post("/v3/auth/tokens", self.issue_token)
        app.router.add_get("/__sim/stats", self.get_stats)
        app.router.add_get("/__sim/log", self.get_log)
        app.router.add_post("/__sim/reset-stats", self.reset_stats)
        app.router.add_get("/__sim/state", self.get_state)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.stats.requests_total += 1
        try:
            return await handler(request)
        except web.HTTPException as exc:  # router misses: give them the gateway's JSON shape
            self.stats.route_missed(request.method, request.path)
            code = NO_ROUTE_ERROR_CODE if exc.status in (404, 405) else f"APIGW.{exc.status}"
            msg = f"The API does not exist or has not been published: {request.method} "
            return error_response(exc.status, code, msg + request.path)

    # --- auth -----------------------------------------------------------------------------

    async def _guard(self, request: web.Request) -> web.Response | None:
        """None if the request may proceed, else the 401/403 to answer."""
        headers = request.headers
        signature_ok: bool | None = None
        verifier = self.config.verify_signature
        if (
            verifier is not None
            and "X-Auth-Token" not in headers
            and headers.get("Authorization", "").startswith(AKSK_PREFIX)
        ):
            body = await request.read()
            url = request.rel_url
            try:
                signature_ok = verifier(
                    request.method, url.raw_path, url.raw_query_string, headers, body
                )
            except Exception:  # a broken verifier must look like a refusal, not a 500
                signature_ok = False
        verdict = check_headers(headers, self.tokens, time.time(), signature_ok=signature_ok)
        if not verdict.ok:
            return error_response(verdict.status, verdict.error_code, verdict.error_msg)
        if request.match_info.get("project_id", self.project_id) != self.project_id:
            return error_response(
                403,
                FORBIDDEN_CODE,
                f"The credentials are not valid for project {request.match_info['project_id']}:"
                f" this endpoint serves project {self.project_id}",
            )
        return None

    # --- DC routes ------------------------------------------------------------------------

    async def list_vifs(self, request: web.Request) -> web.Response:
        """GET virtual-interfaces: sorted by ID, `limit`/`marker` paging, repeated `id` filter."""
        self.stats.list_requests += 1
        denied = await self._guard(request)
        if denied is not None:
            return denied
        query = request.query
        raw_limit = query.get("limit")
        limit = MAX_LIMIT
        if raw_limit is not None:
            try:
                limit = int(raw_limit)
            except ValueError:
                limit = 0
            if not 1 <= limit <= MAX_LIMIT:
                return error_response(
                    400, BAD_PARAM_ERROR_CODE, f"limit must be an integer from 1 to {MAX_LIMIT}"
                )
        marker = query.get("marker") or None
        docs, next_marker = self.fleet.page(limit=limit, marker=marker, ids=query.getall("id", []))
        rid = new_request_id()
        body = {
            "request_id": rid,
            "virtual_interfaces": docs,
            "page_info": {
                "previous_marker": marker or "",
                "current_count": len(docs),
                "next_marker": next_marker,
            },
        }
        return json_response(200, body, rid)

    async def show_vif(self, request: web.Request) -> web.Response:
        """GET one virtual interface."""
        self.stats.show_requests += 1
        denied = await self._guard(request)
        if denied is not None:
            return denied
        vif_id = request.match_info["vif_id"]
        doc = self.fleet.vif(vif_id)
        if doc is None:
            return error_response(
                404, VIF_NOT_FOUND_ERROR_CODE, f"The virtual interface {vif_id} does not exist"
            )
        rid = new_request_id()
        return json_response(200, {"request_id": rid, "virtual_interface": doc}, rid)

    async def delete_peer(self, request: web.Request) -> web.StreamResponse:
        """DELETE one peer, through auth, throttling, latency and faults."""
        arrival = time.monotonic()
        peer_id = request.match_info["peer_id"]
        vif_id = self.fleet.owner_of(peer_id)
        self.stats.delete_started(arrival, time.time(), vif_id)
        outcome: tuple[int | None, bool] = (None, False)
        try:
            response, outcome = await self._delete(request, peer_id, arrival)
            return response
        finally:
            status, applied = outcome
            self.stats.delete_finished(
                mono=arrival, peer_id=peer_id, vif_id=vif_id, status=status, applied=applied
            )

    async def _delete(
        self, request: web.Request, peer_id: str, arrival: float
    ) -> tuple[web.StreamResponse, tuple[int | None, bool]]:
        denied = await self._guard(request)
        if denied is not None:
            return denied, (denied.status, False)
        if self._first_delete is None:
            self._first_delete = arrival
        limit = self.config.rate_limit
        windowed = in_throttle_window(self.config.throttle_windows, arrival - self._first_delete)
        if windowed or (limit is not None and self._limiter.count(arrival) >= limit):
            self.stats.throttled += 1
            resp = error_response(
                429,
                THROTTLED_ERROR_CODE,
                "The throttling threshold has been reached: policy user over ratelimit,"
                f"limit:{limit if limit is not None else 0},time:1 second",
                self._throttle_headers,
            )
            return resp, (429, False)
        if limit is not None:
            self._limiter.add(arrival)
        # Draw both before sleeping so the draws follow arrival order.
        delay = draw_delay_s(self._rng, self.config.latency_ms, self.config.jitter_ms)
        fault = draw_fault(self._rng, self.config.fault_rate, self._weights)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None:
            self.stats.faults[fault.value] += 1
        if fault is FaultKind.RESET:
            transport = request.transport
            if transport is not None:
                transport.abort()
            # aiohttp finds the transport gone and drops this response quietly.
            return web.Response(status=204), (None, False)
        if fault is FaultKind.SERVER_ERROR:
            resp = error_response(
                503, SERVER_ERROR_CODE, "System error (simulated). Retry the request later."
            )
            return resp, (503, False)
        if fault is FaultKind.STALL:
            await asyncio.sleep(self.config.stall_s)
        result = self.fleet.delete_peer(peer_id)
        applied = result is DeleteResult.DELETED
        if fault is FaultKind.APPLIED_500:
            resp = error_response(
                500, SERVER_ERROR_CODE, "System error (simulated, after the change was applied)."
            )
            return resp, (500, applied)
        if applied:
            return web.Response(status=204, headers={"X-Request-Id": new_request_id()}), (204, True)
        if result is DeleteResult.LAST_PEER:
            owner = self.fleet.owner_of(peer_id)
            resp = error_response(
                400,
                LAST_PEER_ERROR_CODE,
                f"The peer {peer_id} is the last peer of virtual interface {owner} and cannot be"
                " deleted. A virtual interface must have at least one peer: delete the virtual"
                " interface itself to remove it.",
            )
            return resp, (400, False)
        resp = error_response(400, NOT_FOUND_ERROR_CODE, f"The vif peer {peer_id} does not exist")
        return resp, (400, False)

    async def create_peer(self, request: web.Request) -> web.Response:
        """POST vif-peers: add a peer (max two per interface, one per address family)."""
        denied = await self._guard(request)
        if denied is not None:
            return denied
        try:
            doc = await request.json()
        except ValueError:
            doc = None
        spec = doc.get("vif_peer") if isinstance(doc, dict) else None
        if not isinstance(spec, dict):
            return error_response(
                400, BAD_BODY_ERROR_CODE, 'The request body must be {"vif_peer": {...}}'
            )
        created = self.fleet.create_peer(spec)
        if created.result is CreateResult.CREATED:
            self.stats.creates += 1
            rid = new_request_id()
            return json_response(201, {"vif_peer": created.peer, "request_id": rid}, rid)
        code = (
            VIF_NOT_FOUND_ERROR_CODE
            if created.result is CreateResult.NO_VIF
            else BAD_PARAM_ERROR_CODE
        )
        return error_response(400, code, created.message)

    # --- IAM ------------------------------------------------------------------------------

    async def issue_token(self, request: web.Request) -> web.Response:
        """POST /v3/auth/tokens (password method): 201 with `X-Subject-Token`."""
        try:
            doc = await request.json()
        except ValueError:
            doc = None
        parsed = parse_password_auth(doc)
        if isinstance(parsed, str):
            return _iam_error(400, "Bad Request", parsed)
        cfg = self.config
        if (parsed.user, parsed.password, parsed.domain) != (
            cfg.username,
            cfg.password,
            cfg.domain,
        ):
            return _iam_error(401, "Unauthorized", "The username or password is wrong.")
        if (parsed.project_id and parsed.project_id != self.project_id) or (
            parsed.project_name and parsed.project_name != cfg.project_name
        ):
            return _iam_error(
                400,
                "Bad Request",
                f"The project in scope is not available: use id {self.project_id}"
                f" or name {cfg.project_name}",
            )
        now = time.time()
        expires = now + cfg.token_ttl_s
        token = "MIIsimiam" + secrets.token_urlsafe(120)
        self.tokens.add(token, expires)
        body = token_body(
            issued_at=now,
            expires_at=expires,
            username=cfg.username,
            domain=cfg.domain,
            project_id=self.project_id,
            project_name=cfg.project_name,
        )
        return json_response(201, body, new_request_id(), {"X-Subject-Token": token})

    # --- test hooks (no auth) -------------------------------------------------------------

    async def get_stats(self, request: web.Request) -> web.Response:
        """GET /__sim/stats."""
        return json_response(200, self.stats.snapshot(), new_request_id())

    async def get_log(self, request: web.Request) -> web.Response:
        """GET /__sim/log: every DELETE answered so far."""
        return json_response(200, self.stats.log, new_request_id())

    async def reset_stats(self, request: web.Request) -> web.Response:
        """POST /__sim/reset-stats: zero the counters and the log (not the fleet)."""
        self.stats.reset()
        return json_response(200, {"reset": True}, new_request_id())

    async def get_state(self, request: web.Request) -> web.Response:
        """GET /__sim/state: the whole fleet as one ListVirtualInterfaces body."""
        rid = new_request_id()
        return json_response(200, {"request_id": rid, **self.fleet.to_listing()}, rid)
