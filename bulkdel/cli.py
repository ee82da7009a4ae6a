"""The command line: parse, call one library function, render, map errors to exit codes.

Heavy modules (aiohttp, the engine) are imported inside the commands so `--help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from bulkdel.cli_options import common_options, connection_options, engine_options

EXIT_HELP = """\b
Exit codes: 0 done (deleted, gone, protected, skipped, would_delete); 1 some failed;
2 usage or input error (nothing sent); 3 incomplete (deferred/unknown); 4 auth failure."""


# -- helpers -------------------------------------------------------------------------------------


def _setup_logs(log_format: str, log_level: str) -> None:
    from bulkdel.logs import configure

    configure(log_format, log_level)  # type: ignore[arg-type]


def _run_async(fn: Callable[[], Any]) -> Any:
    import anyio

    try:
        import uvloop  # noqa: F401

        options: dict[str, Any] = {"use_uvloop": True}
    except ImportError:
        options = {}
    return anyio.run(fn, backend_options=options)


def _connection(kw: dict[str, Any]) -> Any:
    from bulkdel.connect import ConnOptions
    from bulkdel.window import parse_duration

    return ConnOptions(
        endpoint=kw.pop("endpoint"),
        region=kw.pop("region"),
        project_id=kw.pop("project_id"),
        token_file=kw.pop("token_file"),
        auth_url=kw.pop("auth_url"),
        username=kw.pop("username"),
        domain=kw.pop("domain"),
        project_name=kw.pop("project_name"),
        ca_bundle=kw.pop("ca_bundle"),
        insecure_http=kw.pop("insecure_http"),
        timeout_s=parse_duration(kw.pop("timeout"), option="--timeout"),
    )


def _settings(kw: dict[str, Any]) -> Any:
    from bulkdel.models import Keep
    from bulkdel.runner import RunSettings
    from bulkdel.window import parse_duration

    return RunSettings(
        rate=kw.pop("rate") or None,  # 0 = unlimited (benchmarks, servers without quota)
        burst=kw.pop("burst"),
        concurrency=kw.pop("concurrency"),
        per_interface=kw.pop("per_interface"),
        max_attempts=kw.pop("max_attempts"),
        max_deletes=kw.pop("max_deletes"),
        dry_run=kw.pop("dry_run"),
        drain_timeout_s=parse_duration(kw.pop("drain_timeout"), option="--drain-timeout"),
        keep=Keep(kw.pop("keep")),
        fsync=kw.pop("fsync"),
    )


def _window(kw: dict[str, Any]) -> Any:
    from bulkdel.window import spec_from_options

    spec = spec_from_options(
        not_before=kw.pop("not_before"),
        not_after=kw.pop("not_after"),
        window=kw.pop("window"),
        tz=kw.pop("tz"),
        max_duration=kw.pop("max_duration"),
    )
    return None if spec.unrestricted else spec


def _require_confirmation_source(yes: bool, dry_run: bool) -> None:
    from bulkdel.errors import UsageError

    if not yes and not dry_run and not sys.stdin.isatty():
        raise UsageError(
            "refusing to delete without confirmation: stdin is not a terminal; "
            "pass --yes (e.g. from cron) or --dry-run to preview; nothing was sent"
        )


def _delete_command(command: Callable[..., Any], kw: dict[str, Any]) -> None:
    """The shell shared by `run` and `replay`: logs, confirmation policy, options, exit code."""
    _setup_logs(kw.pop("log_format"), kw.pop("log_level"))
    _require_confirmation_source(kw["yes"], kw["dry_run"])
    conn = _connection(kw)
    settings = _settings(kw)
    window = _window(kw)
    sys.exit(_run_async(lambda: command(conn, settings, window, **kw)))


# -- commands ------------------------------------------------------------------------------------


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_HELP,
)
@click.version_option(package_name="bulkdel")
def cli() -> None:
    """Delete Direct Connect virtual-interface peers in bulk, safely.

    \b
    Example:
      export BULKDEL_TOKEN=... BULKDEL_PROJECT_ID=0605768a3300d5762f82c01180692873
      bulkdel plan peers.csv --region eu-de
      bulkdel run peers.csv --region eu-de --audit cleanup.jsonl
    """


@cli.command()
@click.argument("inventory")
@click.option("--out", type=click.Path(dir_okay=False), help="Write a plan file for run --plan.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--keep", type=click.Choice(["ipv4", "ipv6"]), default="ipv4", show_default=True)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    help="Saved listing (bulkdel export) instead of live state.",
)
@click.option("--skip-invalid", is_flag=True, help="Turn invalid rows into `invalid` outcomes.")
@connection_options
@common_options
def plan(**kw: Any) -> None:
    """Show what a run would do, without sending any DELETE.

    \b
    Example:
      bulkdel plan peers.csv --region eu-de --out plan.json
    """
    _setup_logs(kw.pop("log_format"), kw.pop("log_level"))
    from bulkdel.commands import plan_command

    conn = _connection(kw)
    out = _run_async(lambda: plan_command(conn, **kw))
    click.echo(out)


@cli.command()
@click.argument("inventory", required=False)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False),
    help="Execute exactly this plan file (no INVENTORY).",
)
@click.option(
    "--audit",
    "audit_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="JSON-lines audit log (appended, created 0600).",
)
@click.option("--resume", is_flag=True, help="Skip peers already deleted/gone in --audit.")
@click.option("--skip-invalid", is_flag=True, help="Turn invalid rows into `invalid` outcomes.")
@engine_options
@connection_options
@common_options
def run(**kw: Any) -> None:
    """Delete the inventory's peers (never an interface's last), writing the audit log.

    \b
    Example:
      bulkdel run peers.csv --region eu-de --audit cleanup.jsonl --rate 20 --yes
      bulkdel run --plan plan.json --audit cleanup.jsonl --window 22:00-04:00 --tz Europe/Berlin
    """
    from bulkdel.commands import run_command

    _delete_command(run_command, kw)


@cli.command()
@click.argument("audit_file")
@click.option(
    "--only",
    default="failed,deferred,unknown",
    show_default=True,
    help="Latest outcomes to re-run (comma-separated).",
)
@click.option(
    "--audit",
    "audit_path",
    type=click.Path(dir_okay=False),
    help="Append to this audit log instead of AUDIT_FILE.",
)
@engine_options
@connection_options
@common_options
def replay(**kw: Any) -> None:
    """Re-run the unfinished peers of an audit log (also after a crash).

    \b
    Example:
      bulkdel replay cleanup.jsonl --audit cleanup.jsonl --yes
    """
    from bulkdel.replay import replay_command

    _delete_command(replay_command, kw)


@cli.command()
@click.argument("audit_file")
@click.option("--run", "run_id", help="Only this run ID.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
)
@click.option("--peers", is_flag=True, help="Also list every peer's latest outcome across runs.")
@common_options
def report(audit_file: str, run_id: str | None, fmt: str, peers: bool, **kw: Any) -> None:
    """Summarise an audit log: outcomes, error codes, rate, latency, throttling.

    \b
    Example:
      bulkdel report cleanup.jsonl --format markdown
      bulkdel report cleanup.jsonl --peers --format json > peers.json
    """
    _setup_logs(kw.pop("log_format"), kw.pop("log_level"))
    from bulkdel.commands import report_command

    click.echo(report_command(audit_file, run_id, fmt, peers=peers))


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False), help="File to write (default stdout).")
@connection_options
@common_options
def export(out: str | None, **kw: Any) -> None:
    """Save the live ListVirtualInterfaces listing for offline planning (--state).

    \b
    Example:
      bulkdel export --region eu-de --out state.json
    """
    _setup_logs(kw.pop("log_format"), kw.pop("log_level"))
    from bulkdel.commands import export_command

    conn = _connection(kw)
    text = _run_async(lambda: export_command(conn, out))
    if text is not None:
        click.echo(text)


@cli.command()
@connection_options
@common_options
def doctor(**kw: Any) -> None:
    """Check endpoint, project, credentials and TLS, then make one read-only list call.

    Sends no DELETE. Exit 0 ready, 2 configuration problem (nothing sent), 4 credentials
    refused, 1 API unreachable or failing.

    \b
    Example:
      export BULKDEL_TOKEN=... BULKDEL_PROJECT_ID=0605768a3300d5762f82c01180692873
      bulkdel doctor --region eu-de
    """
    _setup_logs(kw.pop("log_format"), kw.pop("log_level"))
    import os

    from bulkdel.doctor import doctor as check_setup

    conn = _connection(kw)
    report = _run_async(lambda: check_setup(conn, os.environ))
    click.echo(report.render())
    sys.exit(report.exit_code)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option("--interfaces", type=int, default=20, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--rate-limit", type=float, default=None, help="DELETEs/s before 429 APIGW.0308.")
@click.option("--latency", type=float, default=0.0, help="Added latency in ms.")
@click.option("--jitter", type=float, default=0.0, help="Uniform extra latency in ms.")
@click.option("--fault-rate", type=float, default=0.0, help="Share of DELETEs that fail.")
@click.option(
    "--fleet",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve this ListVirtualInterfaces JSON instead of a generated fleet.",
)
@common_options
def simulate(**kw: Any) -> None:
    """Serve the DC v3 simulator on loopback; prints endpoint and credentials as JSON.

    \b
    Example:
      bulkdel simulate --port 8080 --interfaces 100 --rate-limit 50 --latency 20
    """
    _setup_logs(kw.pop("log_format"), kw.pop("log_level"))
    from bulkdel.demo import simulate_command

    _run_async(lambda: simulate_command(**kw))


@cli.command()
@common_options
def demo(**kw: Any) -> None:
    """Run the sample inventory end to end against an in-process simulator.

    \b
    Example:
      bulkdel demo
    """
    _setup_logs(kw.pop("log_format"), kw.pop("log_level"))
    from bulkdel.demo import demo_command

    sys.exit(_run_async(demo_command))


def _first_bulkdel_error(group: BaseExceptionGroup[BaseException]) -> Any:
    from bulkdel.errors import BulkdelError

    for exc in group.exceptions:
        if isinstance(exc, BulkdelError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            inner = _first_bulkdel_error(exc)
            if inner is not None:
                return inner
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: refuse secrets on the command line, run click, map errors to exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    from bulkdel.errors import BulkdelError

    try:
        from bulkdel.secret_flags import refuse_secret_flags

        refuse_secret_flags(args)
        cli.main(args=args, prog_name="bulkdel", standalone_mode=False)
    except BulkdelError as exc:
        click.echo(f"bulkdel: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except BaseExceptionGroup as group:
        # Task groups wrap a run-level fault; report the fault, not the group.
        found = _first_bulkdel_error(group)
        if found is None:
            raise
        click.echo(f"bulkdel: error: {found}", err=True)
        sys.exit(found.exit_code)
    except click.exceptions.Abort:
        click.echo("bulkdel: aborted; nothing more was sent", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
