"""`bulkdel doctor`: is this machine ready to run? Configuration first, then one read-only call.

Each configuration check (endpoint, project, credentials, transport) runs even when an earlier
one failed, so one run lists every problem. Only when all pass does doctor send a single
`ListVirtualInterfaces?limit=1`, which tells reachability, whether the credentials are accepted
and whether the project has interfaces. No secret is ever part of a check's detail.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bulkdel.auth import Auth
from bulkdel.connect import ConnOptions, open_client
from bulkdel.endpoints import check_transport, default_auth_url, is_loopback_host, resolve_endpoint
from bulkdel.errors import ApiError, AuthError, BulkdelError, ConfigError
from bulkdel.iam import IamPasswordAuth
from bulkdel.logs import REDACTOR
from bulkdel.models import ApiResponse
from bulkdel.secret_flags import SECRET_ENV_VARS, redact

T = TypeVar("T")

#: Exit codes by kind of failure; the most fundamental failure decides (config, auth, network).
EXIT_CONFIG, EXIT_AUTH, EXIT_UNREACHABLE = 2, 4, 1


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report; `exit_code` says what a failure means (0 when ok)."""

    name: str
    ok: bool
    detail: str
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Every check made, in order, and whether the API was asked at all."""

    checks: tuple[Check, ...]
    request_sent: bool = False

    @property
    def ready(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 ready; 2 configuration problem; 4 credentials refused; 1 API unreachable/failing."""
        failed = {c.exit_code or EXIT_UNREACHABLE for c in self.checks if not c.ok}
        for code in (EXIT_CONFIG, EXIT_AUTH, EXIT_UNREACHABLE):
            if code in failed:
                return code
        return 0

    def render(self) -> str:
        """One `✓`/`✗` line per check, then `ready` or `not ready` with what to do."""
        width = max((len(c.name) for c in self.checks), default=0)
        lines = [f"{'✓' if c.ok else '✗'} {c.name:<{width}}  {c.detail}" for c in self.checks]
        if self.ready:
            lines.append(
                "ready: listing works with these settings (permission to delete is only "
                "seen on the first DELETE)"
            )
        else:
            sent = "" if self.request_sent else "; no request was sent"
            lines.append(f"not ready (exit {self.exit_code}): fix the ✗ lines above{sent}")
        return "\n".join(lines)


def _attempt(checks: list[Check], name: str, fn: Callable[[], T]) -> T | None:
    """Run one configuration step; a ConfigError becomes a failed check instead of a stop."""
    try:
        return fn()
    except ConfigError as exc:
        checks.append(Check(name, False, str(exc), EXIT_CONFIG))
        return None


def _endpoint_source(conn: ConnOptions) -> str:
    if conn.endpoint:
        also = f"; --region {conn.region} is ignored" if conn.region else ""
        return f"from --endpoint/BULKDEL_ENDPOINT{also}"
    return f"from --region {conn.region}"


def _iam_url(conn: ConnOptions) -> str | None:
    """The IAM base URL password auth would use (None for token and AK/SK auth)."""
    if not conn.username:
        return None
    return conn.auth_url or default_auth_url(conn.region)


def _proxy_note(url: str, env: Mapping[str, str]) -> str:
    scheme = urlsplit(url).scheme.lower()
    for var in (f"{scheme.upper()}_PROXY", f"{scheme}_proxy"):
        if env.get(var):
            # Named, not shown: a proxy URL may hold proxy credentials.
            return f", through the proxy in {var} (unless NO_PROXY matches)"
    return ""


def _transport(conn: ConnOptions, endpoint: str, env: Mapping[str, str]) -> str:
    """Describe how requests travel; raise ConfigError when the policy forbids it."""
    urls = [("DC", endpoint)]
    if iam := _iam_url(conn):
        urls.append(("IAM", iam))
    parts = []
    for what, url in urls:
        check_transport(url, insecure_http=conn.insecure_http)
        host = urlsplit(url).hostname or url
        if urlsplit(url).scheme.lower() == "https":
            how = "https"
        elif is_loopback_host(host):
            how = "plain http to loopback (no TLS: simulator only)"
        else:
            how = "plain http allowed by --insecure-http: NOT encrypted"
        parts.append(f"{what} {how}{_proxy_note(url, env)}")
    if any(urlsplit(u).scheme.lower() == "https" for _, u in urls):
        try:
            ssl.create_default_context(cafile=conn.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"--ca-bundle {conn.ca_bundle}: cannot load it ({type(exc).__name__}); "
                "point it at a PEM file of CA certificates"
            ) from None
        store = f"--ca-bundle {conn.ca_bundle}" if conn.ca_bundle else "the system CA store"
        parts.append(f"certificates verified against {store}")
    return "; ".join(parts)


def _credentials(
    conn: ConnOptions, env: Mapping[str, str], project: str | None
) -> tuple[Auth, list[str]]:
    """The provider open_client will build, and the warnings choosing it produced."""
    notes: list[str] = []
    auth = conn.credentials(env, project, warn=notes.append)
    return auth, notes


def _answer(
    resp: ApiResponse, doc: dict[str, Any] | None, endpoint: str, project: str, via: str = ""
) -> list[Check]:
    """Turn the one list call's outcome into checks (pure)."""
    ms = f"{resp.elapsed_ms:.0f} ms"
    if resp.status is None:
        kind = resp.transport_error or "error"
        if kind == "credentials_refused":  # IAM refused before any DC request left
            return [Check("accepted", False, resp.error_msg or "credentials refused", EXIT_AUTH)]
        if kind in ("bad_body", "oversized"):
            return [
                Check("reachable", True, f"answered in {ms}, request id {resp.request_id or '-'}"),
                Check(
                    "listing",
                    False,
                    f"the answer is not a ListVirtualInterfaces body ({resp.error_msg}); is "
                    f"{endpoint} really the DC endpoint? A proxy may be answering instead",
                    EXIT_UNREACHABLE,
                ),
            ]
        hint = "check --endpoint, DNS, HTTPS_PROXY/NO_PROXY and firewalls"
        if "certificate" in kind.lower() or "ssl" in kind.lower():
            hint = "the server's TLS certificate is not trusted: pass --ca-bundle with its CA"
        return [
            Check(
                "reachable",
                False,
                f"no answer from {endpoint} ({kind}: {resp.error_msg}) after {ms}; {hint}",
                EXIT_UNREACHABLE,
            )
        ]
    rid = resp.request_id or "-"
    checks = [Check("reachable", True, f"HTTP {resp.status} in {ms}, request id {rid}")]
    said = f"HTTP {resp.status} {resp.error_code or '-'}: {resp.error_msg or 'no message'}"
    if resp.status == 401:
        checks.append(
            Check(
                "accepted",
                False,
                f"credentials refused ({said}); check that they are current and meant for "
                f"project {project} in this region",
                EXIT_AUTH,
            )
        )
    elif resp.status == 403:
        checks.append(
            Check(
                "accepted",
                False,
                f"credentials accepted but not allowed to list virtual interfaces ({said}); "
                f"ask for Direct Connect permissions in project {project}",
                EXIT_AUTH,
            )
        )
    elif resp.status != 200 or doc is None:
        checks.append(
            Check(
                "listing",
                False,
                f"the list call failed ({said}); check --endpoint and --project-id, or retry "
                "if the API is having trouble",
                EXIT_UNREACHABLE,
            )
        )
    else:
        items = doc.get("virtual_interfaces")
        count = len(items) if isinstance(items, list) else 0
        page = doc.get("page_info")
        more = isinstance(page, dict) and bool(page.get("next_marker"))
        checks.append(Check("accepted", True, f"HTTP 200: credentials accepted{via}"))
        checks.append(
            Check(
                "listing",
                True,
                f"{count} virtual interface(s) on the first page (limit 1)"
                + (", more follow" if more else ""),
            )
        )
    return checks


async def _probe(
    conn: ConnOptions, env: Mapping[str, str], endpoint: str, project: str
) -> list[Check]:
    """The single list call, through the same open_client every command uses."""
    try:
        async with open_client(conn, concurrency=1, env=env) as client:
            resp, doc = await client.list_virtual_interfaces(limit=1)
            auth = client.auth
            via = ""
            if isinstance(auth, IamPasswordAuth) and auth.token_fetches:
                via = f" (token obtained from IAM at {auth.auth_url})"
    except AuthError as exc:  # IAM refused the password
        return [Check("accepted", False, str(exc), EXIT_AUTH)]
    except ApiError as exc:  # IAM unreachable or failing
        return [Check("reachable", False, str(exc), EXIT_UNREACHABLE)]
    except BulkdelError as exc:
        return [Check("reachable", False, str(exc), exc.exit_code)]
    except OSError as exc:  # e.g. TLS set-up; the transport check should have caught it
        return [Check("reachable", False, f"{type(exc).__name__}: {exc}", EXIT_UNREACHABLE)]
    return _answer(resp, doc, endpoint, project, via)


async def doctor(conn: ConnOptions, env: Mapping[str, str]) -> DoctorReport:
    """Check endpoint, project, credentials and transport, then make one read-only list call."""
    checks: list[Check] = []
    endpoint = _attempt(checks, "endpoint", lambda: resolve_endpoint(conn.endpoint, conn.region))
    if endpoint is not None:
        checks.append(Check("endpoint", True, f"{endpoint} ({_endpoint_source(conn)})"))
    project = _attempt(checks, "project", conn.resolved_project_id)
    if project is not None:
        checks.append(Check("project", True, project))
    picked = _attempt(checks, "credentials", lambda: _credentials(conn, env, project))
    secrets = [env.get(v, "") for v in SECRET_ENV_VARS]
    if picked is not None:
        auth, notes = picked
        secrets.extend(auth.secrets())
        noted = "".join(f"; note: {n}" for n in notes)
        checks.append(Check("credentials", True, auth.describe() + noted))
    if endpoint is not None:
        shown = _attempt(checks, "transport", lambda: _transport(conn, endpoint, env))
        if shown is not None:
            checks.append(Check("transport", True, shown))
    sent = False
    if all(c.ok for c in checks) and endpoint is not None and project is not None:
        sent = True
        checks.extend(await _probe(conn, env, endpoint, project))
    # Belt and braces: an API or IAM message might echo a credential back.
    secrets.extend(REDACTOR.secrets)
    clean = tuple(Check(c.name, c.ok, redact(c.detail, secrets), c.exit_code) for c in checks)
    return DoctorReport(checks=clean, request_sent=sent)
