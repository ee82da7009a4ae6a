"""Each client run against a server, as a Measure: bulkdel's CLI, the baselines and wrk."""

from __future__ import annotations

import importlib.util
import json
import os
import pstats
import re
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks import procs
from benchmarks.fixtures import KIND_V6, read_json_line
from benchmarks.results import Measure, first_line
from benchmarks.servers import Server

#: `--rate` for "no rate limit" (`--rate 0`: no client-side limit).
UNLIMITED_RATE = 0.0


@dataclass(frozen=True, slots=True)
class Context:
    """What every scenario shares: scratch space, mode and which tools may be used."""

    tmp: Path
    quick: bool
    use_wrk: bool
    loops: tuple[str, ...] = ("asyncio",)
    profile_dir: Path | None = None


def installed(module: str) -> bool:
    """Whether `module` can be imported by the clients (same interpreter)."""
    return importlib.util.find_spec(module) is not None


def available_loops() -> tuple[str, ...]:
    """The event loops that can be measured: asyncio, and uvloop when installed."""
    return ("asyncio", "uvloop") if installed("uvloop") else ("asyncio",)


def _peak(server: Server) -> int | None:
    stats = server.stats()
    return None if stats is None else int(stats.get("peak_sliding_second", 0))


def baseline(
    ctx: Context,
    server: Server,
    kind: str,
    ids_file: Path,
    *,
    label: str,
    concurrency: int = 1,
    loop: str = "asyncio",
    note: str = "",
) -> Measure:
    """One `benchmarks.baselines` run in its own process."""
    needs = {"requests": "requests", "sdk": "huaweicloudsdkdc", "sdk-threads": "huaweicloudsdkdc"}
    n = sum(1 for _ in ids_file.open(encoding="utf-8"))
    module = needs.get(kind)
    if module and not installed(module):
        return Measure(label, n, error=f"{module} not installed (pip install '.[bench]')")
    server.reset_stats()
    argv = [sys.executable, "-m", "benchmarks.baselines", kind, "--endpoint", server.endpoint]
    argv += ["--project-id", server.project_id, "--ids", str(ids_file)]
    argv += ["--concurrency", str(concurrency), "--loop", loop]
    env = dict(os.environ, BENCH_TOKEN=server.token, BENCH_AK=server.ak, BENCH_SK=server.sk)
    proc = procs.run(argv, env=env, timeout=900)
    if proc.returncode != 0:
        return Measure(label, n, error=f"exit {proc.returncode}: {proc.tail()}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    bad = {k: v for k, v in doc["statuses"].items() if not (k.isdigit() and k.startswith("2"))}
    return Measure(
        client=label,
        requests=int(doc["requests"]),
        ok=int(doc["ok"]),
        seconds=float(doc["seconds"]),
        basis="loop",
        process_s=proc.wall_s,
        peak=_peak(server),
        note="; ".join(filter(None, [note, f"non-2xx {bad}" if bad else ""])),
    )


def engine_alone(peers: int, loop: str) -> float | None:
    """`benchmarks.engine_only` in its own process: the engine's CPU µs per peer (None: failed)."""
    argv = [sys.executable, "-m", "benchmarks.engine_only", "--peers", str(peers), "--loop", loop]
    proc = procs.run(argv, env=dict(os.environ), timeout=600)
    if proc.returncode != 0:
        return None
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["us_per_peer"])


_WRK_LUA = """\
wrk.method = "DELETE"
wrk.headers["X-Auth-Token"] = "{token}"
local first, last = {first}, {last}
local n = first
local prefix = "/v3/{project}/dcaas/vif-peers/{salt:08x}-{kind:04x}-4000-8000-"
request = function()
  local path = prefix .. string.format("%012x", n)
  n = n + 1
  if n >= last then n = first end
  return wrk.format("DELETE", path)
end
"""


def wrk(
    ctx: Context,
    server: Server,
    *,
    concurrency: int,
    duration_s: int,
    salt: int,
    first: int,
    count: int,
    label: str = "wrk",
) -> Measure | None:
    """`wrk -t1 -cC -dDs` with unique DELETE paths from a slice; None when wrk is absent."""
    binary = shutil.which("wrk")
    if binary is None or not ctx.use_wrk:
        return None
    script = ctx.tmp / f"wrk-{first}.lua"
    script.write_text(
        _WRK_LUA.format(
            token=server.token,
            first=first,
            last=first + count,
            project=server.project_id,
            salt=salt,
            kind=KIND_V6,
        ),
        encoding="utf-8",
    )
    os.chmod(script, 0o600)
    server.reset_stats()
    argv = [binary, "-t1", f"-c{concurrency}", f"-d{duration_s}s", "-s", str(script)]
    proc = procs.run([*argv, server.endpoint + "/"], timeout=duration_s + 60)
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", proc.stdout)
    if proc.returncode != 0 or total is None:
        return Measure(label, 0, error=f"wrk exit {proc.returncode}: {proc.tail()}")
    seconds = float(total.group(2)) / (1000.0 if total.group(3) == "ms" else 1.0)
    requests = int(total.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", proc.stdout)
    errors = int(non2xx.group(1)) if non2xx else 0
    return Measure(
        client=label,
        requests=requests,
        ok=requests - errors,
        seconds=seconds,
        basis=f"wrk -d{duration_s}s",
        peak=_peak(server),
        note=f"-t1 -c{concurrency}, {duration_s} s" + (f"; {errors} non-2xx" if errors else ""),
    )


def engine(
    ctx: Context,
    server: Server,
    *,
    inventory: Path,
    state: Path,
    label: str,
    rate: float,
    concurrency: int,
    loop: str,
    burst: int = 1,
    expected: int,
) -> Measure:
    """`bulkdel run` in its own process; the rate is over the execute phase (audit log)."""
    audit = ctx.tmp / f"audit-{label.replace(' ', '_').replace('(', '').replace(')', '')}.jsonl"
    for stale in (audit, Path(str(audit) + ".lock")):
        stale.unlink(missing_ok=True)
    args = ["run", str(inventory), "--state", str(state), "--audit", str(audit), "--yes"]
    args += ["--rate", f"{rate:g}", "--burst", str(burst), "--concurrency", str(concurrency)]
    args += ["--endpoint", server.endpoint, "--project-id", server.project_id]
    args += ["--fsync", "batch", "--log-format", "json", "--log-level", "warning"]
    env = procs.loop_env(loop, dict(os.environ, BULKDEL_TOKEN=server.token), ctx.tmp)
    server.reset_stats()
    proc = procs.run([*procs.bulkdel_argv(), *args], env=env, timeout=900)
    peak = _peak(server)
    finished = read_json_line(audit, last=True)
    if not finished or finished.get("event") != "run_finished":
        return Measure(
            label, expected, error=f"bulkdel exit {proc.returncode}, no run_finished: {proc.tail()}"
        )
    counts = finished.get("counts") or {}
    assert isinstance(counts, dict)
    deleted = int(counts.get("deleted", 0))
    duration = float(str(finished.get("duration_s", 0.0)))
    others = {k: v for k, v in counts.items() if k != "deleted" and v}
    note = f"exit {proc.returncode}" + (f"; {others}" if others else "")
    measure = Measure(
        client=label,
        requests=expected,
        ok=deleted,
        seconds=duration,
        basis="execute phase (run_started → run_finished)",
        process_s=proc.wall_s,
        peak=peak,
        note=note,
        error=None if deleted else f"nothing deleted: {first_line(proc.tail())}",
    )
    if ctx.profile_dir is not None and measure.error is None:
        measure = replace(measure, note=measure.note + "; " + _profile(ctx, args, env, label))
    return measure


def _profile(ctx: Context, args: list[str], env: dict[str, str], label: str) -> str:
    """Run the same command again under cProfile; write the top functions beside it."""
    assert ctx.profile_dir is not None
    ctx.profile_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", label).strip("_")
    out = ctx.profile_dir / f"{stem}.prof"
    audit = Path(args[args.index("--audit") + 1])
    audit.unlink(missing_ok=True)
    procs.run([*procs.profiled_bulkdel_argv(out), *args], env=env, timeout=1800)
    text = ctx.profile_dir / f"{stem}.txt"
    with text.open("w", encoding="utf-8") as fh:
        stats = pstats.Stats(str(out), stream=fh)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(30)
    return f"profile: {text}"
