"""Click option groups shared by the commands, and `--config FILE` loading."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _load_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """`--config FILE`: TOML keys are long option names; command line and env still win."""
    if not value:
        return value
    try:
        with open(value, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {value}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"{value} is not valid TOML: {exc}") from None
    from bulkdel.secret_flags import SECRET_FLAGS

    root = ctx.find_root().command
    commands = root.commands.values() if isinstance(root, click.Group) else [ctx.command]
    known = {p.name for cmd in commands for p in cmd.params if p.name is not None}
    flat: dict[str, Any] = {}
    for key, val in doc.items():
        name = key.replace("-", "_")
        if name not in known and f"--{key.replace('_', '-')}" not in SECRET_FLAGS:
            raise click.BadParameter(
                f"{value}: unknown option `{key}`; config keys are long option names such as "
                "`rate`, `project-id` or `max-deletes` (see `bulkdel run --help`)"
            )
        if f"--{key.replace('_', '-')}" in SECRET_FLAGS:
            raise click.BadParameter(
                f"{value}: `{key}` is a secret; keep secrets out of config files and use the "
                "environment (BULKDEL_TOKEN, BULKDEL_PASSWORD, HUAWEICLOUD_SDK_SK) or --token-file"
            )
        flat[name] = val
    ctx.default_map = {**(ctx.default_map or {}), **flat}
    return value


def common_options(f: F) -> F:
    """Logging and config options every command takes."""
    f = click.option(
        "--log-level",
        default="info",
        show_default=True,
        type=click.Choice(["debug", "info", "warning", "error"]),
    )(f)
    f = click.option(
        "--log-format",
        default="auto",
        show_default=True,
        type=click.Choice(["auto", "console", "json"]),
        help="auto: readable on a terminal, JSON otherwise.",
    )(f)
    return click.option(
        "--config",
        type=click.Path(dir_okay=False),
        is_eager=True,
        expose_value=False,
        callback=_load_config,
        help="TOML file of long options (command line > env > config > default).",
    )(f)


def connection_options(f: F) -> F:
    """Where the API is and how to authenticate (secrets only from env or files)."""
    opts = [
        click.option(
            "--endpoint",
            envvar="BULKDEL_ENDPOINT",
            help="DC base URL without path, e.g. https://dcaas.eu-de.otc.t-systems.com",
        ),
        click.option(
            "--region",
            envvar="BULKDEL_REGION",
            help="Region name (eu-de, eu-nl, ap-southeast-1, ...) instead of --endpoint.",
        ),
        click.option(
            "--project-id",
            envvar=["BULKDEL_PROJECT_ID", "OS_PROJECT_ID"],
            help="Project ID (32 hex).",
        ),
        click.option(
            "--token-file",
            type=click.Path(dir_okay=False),
            help="File holding an IAM token (else env BULKDEL_TOKEN / OS_AUTH_TOKEN).",
        ),
        click.option(
            "--auth-url",
            envvar=["BULKDEL_AUTH_URL", "OS_AUTH_URL"],
            help="IAM URL for password auth (default per region).",
        ),
        click.option(
            "--username",
            envvar=["BULKDEL_USERNAME", "OS_USERNAME"],
            help="IAM user; the password comes from env BULKDEL_PASSWORD.",
        ),
        click.option(
            "--domain",
            envvar=["BULKDEL_DOMAIN", "OS_USER_DOMAIN_NAME"],
            help="IAM domain (account) name.",
        ),
        click.option(
            "--project-name",
            envvar=["BULKDEL_PROJECT_NAME", "OS_PROJECT_NAME"],
            help="IAM project name to scope the token (e.g. eu-de).",
        ),
        click.option(
            "--ca-bundle",
            type=click.Path(exists=True, dir_okay=False),
            help="CA bundle for TLS verification.",
        ),
        click.option(
            "--insecure-http",
            is_flag=True,
            help="Allow plain http:// to a non-loopback host (never in production).",
        ),
        click.option(
            "--timeout", default="30s", show_default=True, help="Per-request timeout (45s, 2m)."
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def engine_options(f: F) -> F:
    """Rate, concurrency, retries and windows of `run` and `replay`."""
    opts = [
        click.option("--yes", is_flag=True, help="Do not ask for confirmation."),
        click.option("--dry-run", is_flag=True, help="Send no DELETE; outcome would_delete."),
        click.option(
            "--rate",
            type=float,
            default=10.0,
            show_default=True,
            help="DELETE requests per second (global); 0 = no client-side limit.",
        ),
        click.option(
            "--burst",
            type=int,
            default=1,
            show_default=True,
            help="Extra requests allowed at once; the server sees ≤ rate+burst/s.",
        ),
        click.option("--concurrency", type=int, default=8, show_default=True),
        click.option(
            "--per-interface",
            type=int,
            default=1,
            show_default=True,
            help="Requests in flight per virtual interface.",
        ),
        click.option("--max-attempts", type=int, default=6, show_default=True),
        click.option(
            "--max-deletes",
            type=int,
            default=None,
            help="Stop after exactly N deletions (rest deferred).",
        ),
        click.option(
            "--keep",
            type=click.Choice(["ipv4", "ipv6"]),
            default="ipv4",
            show_default=True,
            help="Peer kept when all of an interface's are listed.",
        ),
        click.option(
            "--state",
            "state_file",
            type=click.Path(dir_okay=False),
            help="Saved listing (bulkdel export) instead of live state.",
        ),
        click.option(
            "--fsync",
            type=click.Choice(["always", "batch", "never"]),
            default="batch",
            show_default=True,
        ),
        click.option(
            "--drain-timeout",
            default="30s",
            show_default=True,
            help="How long in-flight requests may finish after a stop.",
        ),
        click.option(
            "--not-before", help="Start no earlier (RFC 3339, e.g. 2026-12-03T22:00:00Z)."
        ),
        click.option("--not-after", help="Stop dispatching at this time (RFC 3339)."),
        click.option("--window", help="Daily window HH:MM-HH:MM (may cross midnight)."),
        click.option("--tz", default=None, help="Time zone of --window (default UTC)."),
        click.option("--max-duration", help="Stop after this long from the start (90m, 2h)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f
