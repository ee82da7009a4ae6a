"""Scenarios 1-3 of issue 5: bulkdel and the baselines against one server, same inventory shape.

Every client deletes its own slice of the same fleet (two peers per interface, the IPv6 one
requested), so every DELETE is a real 204 on the simulator and no client benefits from another's
work. Slow baselines get a smaller slice; rates are per second either way.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from benchmarks import clients, fixtures, servers
from benchmarks.clients import UNLIMITED_RATE, Context
from benchmarks.results import (
    Check,
    Measure,
    ScenarioResult,
    fmt_rate,
    measures_table,
    ratio_check,
)


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many DELETEs each client sends in one scenario."""

    engine: int
    aiohttp: int
    requests: int
    sdk: int
    sdk_threads: int
    wrk_s: int
    wrk_ids: int = 5_000  # distinct peers wrk cycles through (it runs for a time, not a count)


SEQUENTIAL = (
    ("requests", "requests", "requests loop (sequential)", 1, "one Session"),
    ("sdk", "sdk", "huaweicloudsdkdc DcClient (sequential)", 1, "AK/SK signed"),
)


def _sizes(ctx: Context, full: Sizes, quick: Sizes) -> Sizes:
    return quick if ctx.quick else full


@contextlib.contextmanager
def _fleet(
    ctx: Context, name: str, slices: dict[str, int], server_kind: str, latency_ms: float
) -> Iterator[tuple[servers.Server, fixtures.Layout, Callable[[str], Path], Path]]:
    """Write the fleet, start the server; yields (server, layout, ids_file(name), state)."""
    rng = random.Random(name)
    layout = fixtures.allocate(slices, rng)
    folder = ctx.tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "state.json"
    fixtures.write_state(state, layout.salt, layout.project_id, layout.interfaces)

    def ids_file(slice_name: str) -> Path:
        path = folder / f"{slice_name}.csv"
        if not path.exists():
            fixtures.write_ids(path, layout.ids(slice_name), header="vif_peer_id")
        return path

    def plain_ids(slice_name: str) -> Path:
        path = folder / f"{slice_name}.ids"
        if not path.exists():
            fixtures.write_ids(path, layout.ids(slice_name))
        return path

    if server_kind == "nginx":
        cm = servers.nginx(folder / "nginx", layout.project_id)
    else:
        cm = servers.simulator(state, layout.project_id, latency_ms=latency_ms)
    with cm as server:
        # bulkdel reads the CSV (with header); the baselines read bare IDs.
        def pick(s: str) -> Path:
            return ids_file(s) if s.startswith("bulkdel") else plain_ids(s)

        yield server, layout, pick, state


def _run_clients(
    ctx: Context,
    name: str,
    server_kind: str,
    latency_ms: float,
    sizes: Sizes,
    *,
    concurrency: int,
    rate: float,
    burst: int = 1,
) -> tuple[list[Measure], dict[str, Measure], str]:
    """bulkdel on each loop, the aiohttp loop on each loop, requests, SDK x2, wrk."""
    slices: dict[str, int] = {}
    for loop in ctx.loops:
        slices[f"bulkdel-{loop}"] = sizes.engine
        slices[f"aiohttp-{loop}"] = sizes.aiohttp
    slices |= {"requests": sizes.requests, "sdk": sizes.sdk, "sdk-threads": sizes.sdk_threads}
    slices["wrk"] = sizes.wrk_ids
    by_key: dict[str, Measure] = {}
    order: list[Measure] = []
    with _fleet(ctx, name, slices, server_kind, latency_ms) as (server, layout, ids, state):
        for loop in ctx.loops:
            m = clients.baseline(
                ctx,
                server,
                "aiohttp",
                ids(f"aiohttp-{loop}"),
                label=f"aiohttp loop ({loop})",
                concurrency=concurrency,
                loop=loop,
                note=f"{concurrency} workers, no audit/limit/retries",
            )
            by_key[f"aiohttp-{loop}"] = m
            order.append(m)
            m = clients.engine(
                ctx,
                server,
                inventory=ids(f"bulkdel-{loop}"),
                state=state,
                label=f"bulkdel run ({loop})",
                rate=rate,
                burst=burst,
                concurrency=concurrency,
                loop=loop,
                expected=sizes.engine,
            )
            by_key[f"bulkdel-{loop}"] = m
            order.append(m)
        # Quick mode (the smoke test) runs the sequential baselines in scenario 1 only.
        sequential = () if ctx.quick and name != "overhead" else SEQUENTIAL
        for key, kind, label, conc, note in (
            *sequential,
            (
                "sdk-threads",
                "sdk-threads",
                f"huaweicloudsdkdc DcClient ({concurrency} threads)",
                concurrency,
                "AK/SK signed, ThreadPoolExecutor",
            ),
        ):
            m = clients.baseline(ctx, server, kind, ids(key), label=label, concurrency=conc)
            by_key[key] = replace(m, note="; ".join(filter(None, [note, m.note])))
            order.append(by_key[key])
        w = clients.wrk(
            ctx,
            server,
            concurrency=concurrency,
            duration_s=sizes.wrk_s,
            salt=layout.salt,
            first=layout.slices["wrk"].start,
            count=sizes.wrk_ids,
        )
        if w is not None:
            by_key["wrk"] = w
            order.append(w)
        kind = server.kind
    return order, by_key, kind


def _fields(m: Measure) -> dict[str, object]:
    return {**asdict(m), "rate": m.rate}


def overhead(ctx: Context, server_kind: str) -> ScenarioResult:
    """1. Engine overhead: zero latency, no rate limit, audit on (fsync batch)."""
    concurrency = 32
    sizes = _sizes(
        ctx,
        Sizes(engine=50_000, aiohttp=50_000, requests=3_000, sdk=1_500, sdk_threads=3_000, wrk_s=5),
        Sizes(engine=300, aiohttp=300, requests=40, sdk=20, sdk_threads=40, wrk_s=1),
    )
    if server_kind != "nginx":
        # Against the simulator every wrk DELETE should find a peer: ~15k/s for its duration.
        sizes = replace(sizes, wrk_ids=20_000 * sizes.wrk_s)
    order, by_key, kind = _run_clients(
        ctx, "overhead", server_kind, 0.0, sizes, concurrency=concurrency, rate=UNLIMITED_RATE
    )
    checks = [
        ratio_check(
            f"1. bulkdel ({loop}) ≥ 0.9 x aiohttp loop ({loop})",
            by_key.get(f"bulkdel-{loop}"),
            by_key.get(f"aiohttp-{loop}"),
            0.9,
        )
        for loop in ctx.loops
    ]
    ref = by_key.get(f"aiohttp-{ctx.loops[-1]}")
    notes = [_per_peer(loop, by_key, sizes.engine) for loop in ctx.loops]
    return ScenarioResult(
        key="1 overhead",
        title="1. Engine overhead (zero latency, no rate limit, audit log on)",
        setup=(
            f"Server: {kind}. Concurrency {concurrency}; bulkdel `run --state` with "
            f"`--rate {UNLIMITED_RATE:g}` (no limit), `--fsync batch`, {sizes.engine:,} peers; "
            "rates are 2xx answers per second of the measured interval (bulkdel: its execute "
            "phase from the audit log; baselines: their loop; wrk: its duration)."
        ),
        table=measures_table(order, ref.rate if ref else None, ref.client if ref else "ref"),
        checks=tuple(checks),
        notes=tuple(notes),
        data={k: _fields(m) for k, m in by_key.items()},
    )


def _per_peer(loop: str, by_key: dict[str, Measure], peers: int) -> str:
    """Where the time goes, in µs per peer: the aiohttp loop, bulkdel, and its engine alone."""
    alone = clients.engine_alone(peers, loop)
    alone_text = "failed" if alone is None else f"{alone:.1f} µs"
    eng, ref = by_key.get(f"bulkdel-{loop}"), by_key.get(f"aiohttp-{loop}")
    if not (eng and ref and eng.rate and ref.rate):
        return f"{loop}: the engine alone (fake deleter, real audit pump and writer): {alone_text}"
    ref_us, eng_us = 1e6 / ref.rate, 1e6 / eng.rate
    return (
        f"{loop}: aiohttp loop {ref_us:.1f} µs per request, bulkdel {eng_us:.1f} µs per peer "
        f"(+{eng_us - ref_us:.1f} µs); the engine alone (fake deleter, real audit pump and "
        f"writer, CPU): {alone_text} per peer; 0.9 x the loop leaves bulkdel "
        f"{ref_us / 0.9 - ref_us:.1f} µs"
    )


def rate_fidelity(ctx: Context) -> ScenarioResult:
    """2. Rate fidelity: 50 ms latency, --rate 200, concurrency 32."""
    rate, burst, concurrency = 200.0, 1, 32
    sizes = _sizes(
        ctx,
        Sizes(engine=1_600, aiohttp=1_600, requests=60, sdk=60, sdk_threads=640, wrk_s=3),
        Sizes(engine=60, aiohttp=60, requests=3, sdk=3, sdk_threads=32, wrk_s=1),
    )
    order, by_key, kind = _run_clients(
        ctx, "rate", "simulator", 50.0, sizes, concurrency=concurrency, rate=rate, burst=burst
    )
    engines = [by_key[f"bulkdel-{loop}"] for loop in ctx.loops]
    checks: list[Check] = []
    for m in engines:
        checks.append(ratio_check(f"2. {m.client}: achieved ≥ 0.97 x {rate:g}/s", m, rate, 0.97))
        if m.peak is None or m.error is not None:
            checks.append(Check(f"2. {m.client}: peak ≤ rate + burst", "not measured", None))
        else:
            limit = int(rate) + burst
            checks.append(
                Check(
                    f"2. {m.client}: server peak in any sliding second ≤ {limit}",
                    f"{m.peak}",
                    m.peak <= limit,
                )
            )
    return ScenarioResult(
        key="2 rate",
        title="2. Rate fidelity (50 ms latency, --rate 200, concurrency 32)",
        setup=(
            f"Server: {kind}. bulkdel `run --rate {rate:g} --burst {burst} --concurrency "
            f"{concurrency}`, {sizes.engine:,} peers. The baselines have no rate limit: their "
            "peak column shows what the API's quota would see from them."
        ),
        table=measures_table(order, rate, f"{rate:g}/s"),
        checks=tuple(checks),
        data={k: _fields(m) for k, m in by_key.items()},
    )


def latency_hiding(ctx: Context) -> ScenarioResult:
    """3. Latency hiding: 100 ms latency, no rate limit, concurrency 64."""
    concurrency, latency_ms = 64, 100.0
    bound = concurrency * 1000.0 / latency_ms
    sizes = _sizes(
        ctx,
        Sizes(engine=3_200, aiohttp=3_200, requests=30, sdk=30, sdk_threads=1_280, wrk_s=3),
        Sizes(engine=128, aiohttp=128, requests=2, sdk=2, sdk_threads=64, wrk_s=1),
    )
    order, by_key, kind = _run_clients(
        ctx,
        "latency",
        "simulator",
        latency_ms,
        sizes,
        concurrency=concurrency,
        rate=UNLIMITED_RATE,
    )
    checks = [
        ratio_check(
            f"3. bulkdel ({loop}) ≥ 0.9 x {bound:g}/s",
            by_key.get(f"bulkdel-{loop}"),
            bound,
            0.9,
        )
        for loop in ctx.loops
    ]
    notes = []
    ceiling = [m for k, m in by_key.items() if k.startswith(("aiohttp", "wrk")) and m.rate]
    if ceiling:
        best = max(ceiling, key=lambda m: m.rate or 0.0)
        notes.append(
            f"The fastest client here, {best.client}, reached {fmt_rate(best.rate)} = "
            f"{(best.rate or 0.0) / bound:.2f} x {bound:g}/s: the simulator's answers take "
            "longer than the 100 ms it adds (event-loop wake-up and request handling), so that "
            "ratio is what any client can reach on this machine."
        )
    for loop in ctx.loops:
        eng, ref = by_key.get(f"bulkdel-{loop}"), by_key.get(f"aiohttp-{loop}")
        if eng and ref and eng.rate and ref.rate:
            notes.append(
                f"bulkdel ({loop}) / aiohttp loop ({loop}) = {eng.rate / ref.rate:.2f} "
                "(not a target here; for context)."
            )
    return ScenarioResult(
        key="3 latency",
        notes=tuple(notes),
        title="3. Latency hiding (100 ms latency, no rate limit, concurrency 64)",
        setup=(
            f"Server: {kind}. The bound is concurrency / latency = {bound:g}/s. bulkdel "
            f"`run --concurrency {concurrency} --rate {UNLIMITED_RATE:g}`, {sizes.engine:,} peers."
        ),
        table=measures_table(order, bound, f"{bound:g}/s"),
        checks=tuple(checks),
        data={k: _fields(m) for k, m in by_key.items()},
    )
