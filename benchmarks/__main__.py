"""`python -m benchmarks`: run the suite, print the tables, write benchmarks/RESULTS.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from benchmarks import clients, offline, scenarios, servers
from benchmarks.clients import Context
from benchmarks.results import (
    Check,
    ScenarioResult,
    Table,
    render_document,
    render_scenario,
    summary_counts,
)

SCENARIOS = ("overhead", "rate", "latency", "scale", "startup")
DEFAULT_RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="bulkdel against a requests loop, the official SDK, an aiohttp loop and wrk.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}"
    )
    parser.add_argument(
        "--server",
        choices=("auto", "nginx", "simulator"),
        default="auto",
        help="server of scenario 1 (auto: nginx when installed); 2 and 3 need the simulator",
    )
    parser.add_argument("--no-wrk", action="store_true", help="skip wrk even when installed")
    parser.add_argument(
        "--loops",
        default=",".join(clients.available_loops()),
        help="event loops to measure bulkdel and the aiohttp loop on (asyncio,uvloop)",
    )
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="markdown out")
    parser.add_argument("--json", type=Path, default=None, help="also write raw results here")
    parser.add_argument(
        "--profile", type=Path, default=None, help="re-run bulkdel under cProfile into this dir"
    )
    parser.add_argument(
        "--install-tools",
        action="store_true",
        help="apt-get install nginx-light and wrk when missing (needs root)",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the scratch directory")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.only) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    args.loops = tuple(x.strip() for x in args.loops.split(",") if x.strip())
    missing = sorted(set(args.loops) - set(clients.available_loops()))
    if missing or not args.loops:
        parser.error(f"--loops: {missing or 'none given'}; available: {clients.available_loops()}")
    return args


def install_tools() -> None:
    """Best effort: Debian's nginx-light and wrk (the bench also works without them)."""
    if shutil.which("nginx") and shutil.which("wrk"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("bench: not root or no apt-get; running without nginx/wrk", file=sys.stderr)
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "nginx-light", "wrk"],
    ):
        subprocess.run(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _tool_versions() -> str:
    ng = servers.nginx_binary()
    wrk = shutil.which("wrk")
    parts = [
        f"nginx {servers.nginx_version(ng) if ng else 'not installed'}",
        f"wrk {'installed' if wrk else 'not installed'}",
        f"aiohttp {_version('aiohttp')}",
        f"uvloop {_version('uvloop')}",
        f"requests {_version('requests')}",
        f"huaweicloudsdkdc {_version('huaweicloudsdkdc')}",
    ]
    return ", ".join(parts)


def header(args: argparse.Namespace, server_kind: str, started: datetime) -> dict[str, str]:
    """The environment lines at the top of RESULTS.md."""
    return {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "bulkdel": _version("bulkdel"),
        "mode": "quick (tiny sizes: smoke test only, the targets mean nothing here)"
        if args.quick
        else "full",
        "servers": f"scenario 1: {server_kind}; scenarios 2-3: bulkdel simulator "
        "(own process, uvloop when installed)",
        "tools": _tool_versions(),
        "event loops measured": ", ".join(args.loops),
        "load average (1 min) at start / end": f"{args.load_start:.2f} / {os.getloadavg()[0]:.2f}"
        " (other work on the machine skews every number; compare rows of one run)",
    }


def _failed(key: str, title: str, exc: BaseException) -> ScenarioResult:
    text = "".join(traceback.format_exception(exc)).strip()
    return ScenarioResult(
        key=key,
        title=title,
        setup="The scenario crashed:",
        table=Table(("error",), ((text.splitlines()[-1],),)),
        checks=(Check(f"{key}: ran", text.splitlines()[-1][:160], False),),
        notes=(f"```\n{text[-3000:]}\n```",),
    )


def run(args: argparse.Namespace) -> tuple[list[ScenarioResult], dict[str, str]]:
    """Every selected scenario, in order; a crash is a result, not the end of the run."""
    started = datetime.now(UTC)
    args.load_start = os.getloadavg()[0]
    if args.install_tools:
        install_tools()
    server_kind = args.server
    if server_kind == "auto":
        server_kind = "nginx" if servers.nginx_binary() else "simulator"
    if server_kind == "nginx" and not servers.nginx_binary():
        raise SystemExit("bench: --server nginx but nginx is not installed (nginx-light)")
    tmp = Path(tempfile.mkdtemp(prefix="bulkdel-bench-"))
    ctx = Context(
        tmp=tmp,
        quick=args.quick,
        use_wrk=not args.no_wrk,
        loops=args.loops,
        profile_dir=args.profile,
    )
    plan: dict[str, tuple[str, Callable[[], ScenarioResult]]] = {
        "overhead": ("1. Engine overhead", lambda: scenarios.overhead(ctx, server_kind)),
        "rate": ("2. Rate fidelity", lambda: scenarios.rate_fidelity(ctx)),
        "latency": ("3. Latency hiding", lambda: scenarios.latency_hiding(ctx)),
        "scale": ("4. Scale", lambda: offline.scale(ctx)),
        "startup": ("5. Start-up", lambda: offline.startup(ctx)),
    }
    results: list[ScenarioResult] = []
    try:
        for key in SCENARIOS:
            if key not in args.only:
                continue
            title, fn = plan[key]
            print(f"bench: {title} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                result = fn()
            except Exception as exc:
                result = _failed(key, title, exc)
            print(f"bench: {title} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            print(render_scenario(result) + "\n", flush=True)
            results.append(result)
    finally:
        if args.keep_tmp:
            print(f"bench: scratch kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return results, header(args, server_kind, started)


def main(argv: list[str] | None = None) -> int:
    """Run, print, write; exit 1 on a crashed scenario (or a miss with --strict)."""
    args = _parse(argv)
    results, head = run(args)
    document = render_document(head, results)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(document, encoding="utf-8")
    if args.json is not None:
        raw = {"header": head, "scenarios": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(raw, indent=1, default=str), encoding="utf-8")
    counts = summary_counts(results)
    summary = document.split("## Targets (issue 5)", 1)[1].split("\n## ", 1)[0].strip()
    print("## Targets (issue 5)\n\n" + summary + "\n")
    print(
        f"bench: {counts['PASS']} PASS, {counts['MISS']} MISS, {counts['n/a']} n/a; "
        f"written to {args.results}",
        file=sys.stderr,
    )
    crashed = any(r.setup == "The scenario crashed:" for r in results)
    return 1 if crashed or (args.strict and counts["MISS"]) else 0


if __name__ == "__main__":
    sys.exit(main())
