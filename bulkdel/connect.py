"""From options and environment to an open DcClient (endpoint, project, credentials, TLS)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import structlog

from bulkdel.auth import Auth
from bulkdel.client import DcClient, make_session
from bulkdel.endpoints import check_transport, resolve_endpoint
from bulkdel.errors import ConfigError
from bulkdel.logs import REDACTOR

log = structlog.get_logger("bulkdel.connect")

_PROJECT_RE = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass(frozen=True, slots=True)
class ConnOptions:
    """Connection options as given on the command line (env already applied by click)."""

    endpoint: str | None = None
    region: str | None = None
    project_id: str | None = None
    token_file: str | None = None
    auth_url: str | None = None
    username: str | None = None
    domain: str | None = None
    project_name: str | None = None
    ca_bundle: str | None = None
    insecure_http: bool = False
    timeout_s: float = 30.0

    def resolved_endpoint(self) -> str:
        """The DC base URL, validated (http only to loopback unless --insecure-http)."""
        if not self.endpoint and not self.region:
            raise ConfigError(
                "no endpoint: pass --endpoint URL or --region NAME (or set BULKDEL_ENDPOINT)"
            )
        url = resolve_endpoint(self.endpoint, self.region)
        check_transport(url, insecure_http=self.insecure_http)
        return url

    def credentials(
        self,
        env: Mapping[str, str],
        project_id: str | None,
        *,
        session: aiohttp.ClientSession | None = None,
        warn: Callable[[str], None] | None = None,
        on_secret: Callable[[str], None] | None = None,
    ) -> Auth:
        """The credential provider these options and `env` select (bulkdel.auth order)."""
        from bulkdel.auth import credentials_from_env

        return credentials_from_env(
            env,
            token_file=self.token_file,
            auth_url=self.auth_url,
            username=self.username,
            domain=self.domain,
            project_id=project_id,
            project_name=self.project_name,
            region=self.region,
            session=session,
            warn=warn,
            on_secret=on_secret,
        )

    def resolved_project_id(self) -> str:
        """The project ID (32 hex)."""
        if not self.project_id:
            raise ConfigError(
                "no project: pass --project-id or set BULKDEL_PROJECT_ID (or OS_PROJECT_ID)"
            )
        if not _PROJECT_RE.match(self.project_id):
            raise ConfigError(
                f"--project-id {self.project_id[:40]!r} is not a 32-hex project "
                "ID; copy it from the console's My Credentials page"
            )
        return self.project_id.lower()


@asynccontextmanager
async def open_client(
    conn: ConnOptions, *, concurrency: int = 8, env: Mapping[str, str] | None = None
) -> AsyncIterator[DcClient]:
    """Open a session and client; credentials are read from `env` (default os.environ) here,
    and every secret, IAM tokens included as they arrive, is registered for redaction."""
    endpoint = conn.resolved_endpoint()
    project_id = conn.resolved_project_id()
    session = make_session(
        concurrency=concurrency, timeout_s=conn.timeout_s, ca_bundle=conn.ca_bundle
    )
    try:
        auth = conn.credentials(
            os.environ if env is None else env,
            project_id,
            session=session,
            warn=lambda msg: log.warning("auth.note", detail=msg),
            on_secret=REDACTOR.add,
        )
        if auth_url := conn.auth_url:
            check_transport(auth_url, insecure_http=conn.insecure_http)
        log.info("connect.using", endpoint=endpoint, project_id=project_id, auth=auth.describe())
        yield DcClient(endpoint, project_id, auth, session, timeout_s=conn.timeout_s)
    finally:
        await session.close()
