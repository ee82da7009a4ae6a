"""A tiny run of the benchmark suite (`python -m benchmarks --quick`) against the simulator.

Benchmarks themselves never run in `make test`; this only proves the scripts still work end to
end: servers start and stop, every client runs, bulkdel's CLI is driven as the bench drives it,
and the tables and RESULTS document come out with every scenario and target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import fixtures
from benchmarks.results import Check, Measure, ScenarioResult, Table, render_document

REPO = Path(__file__).resolve().parent.parent
SCENARIO_KEYS = ["1 overhead", "2 rate", "3 latency", "4 scale", "5 startup"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the whole suite once in quick mode on the stdlib loop, without nginx or wrk."""
    out = tmp_path_factory.mktemp("bench")
    results, raw = out / "RESULTS.md", out / "results.json"
    official = REPO / "benchmarks" / "RESULTS.md"
    before = official.stat().st_mtime_ns if official.exists() else None
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--server",
            "simulator",
            "--no-wrk",
            "--loops",
            "asyncio",
            "--results",
            str(results),
            "--json",
            str(raw),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    after = official.stat().st_mtime_ns if official.exists() else None
    return {
        "proc": proc,
        "markdown": results.read_text(encoding="utf-8") if results.exists() else "",
        "json": json.loads(raw.read_text(encoding="utf-8")) if raw.exists() else {},
        "official_untouched": before == after,
    }


def _scenario(run: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in run["json"]["scenarios"] if s["key"] == key)


def test_quick_run_exits_zero_and_leaves_the_official_results_alone(quick_run):
    """The suite finishes cleanly and writes only where --results points."""
    proc = quick_run["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert quick_run["official_untouched"]


def test_results_document_has_environment_targets_and_every_scenario(quick_run):
    """RESULTS.md names the machine and holds the targets table and all five scenarios."""
    text = quick_run["markdown"]
    for needle in ("CPUs", "CPython", "- **date**", "## Targets (issue 5)", "| verdict |"):
        assert needle in text
    for title in ("1. Engine overhead", "2. Rate fidelity", "3. Latency hiding", "4. Scale"):
        assert f"## {title}" in text
    assert "## 5. Start-up" in text
    assert [s["key"] for s in quick_run["json"]["scenarios"]] == SCENARIO_KEYS
    assert all(s["checks"] for s in quick_run["json"]["scenarios"])
    assert "## Targets (issue 5)" in quick_run["proc"].stdout


def test_every_client_of_the_overhead_scenario_deleted_its_whole_slice(quick_run):
    """bulkdel and each baseline that is installed answered 2xx for every peer it was given."""
    data = _scenario(quick_run, "1 overhead")["data"]
    assert {"aiohttp-asyncio", "bulkdel-asyncio", "requests", "sdk", "sdk-threads"} <= set(data)
    for key, m in data.items():
        if m["error"] and "not installed" in m["error"]:
            continue
        assert m["error"] is None, (key, m["error"])
        assert m["ok"] == m["requests"] > 0, key
        assert m["rate"] > 0, key
    assert data["bulkdel-asyncio"]["basis"].startswith("execute phase")


def test_rate_scenario_reports_the_server_observed_peak(quick_run):
    """The simulator's sliding-second peak reaches the bulkdel row of the rate scenario."""
    bulkdel = _scenario(quick_run, "2 rate")["data"]["bulkdel-asyncio"]
    assert bulkdel["error"] is None
    assert 0 < bulkdel["peak"] <= bulkdel["requests"]


def test_scale_scenario_times_plan_report_and_replay(quick_run):
    """Plan, report and replay of the synthetic inventory and audit log all ran and agree."""
    scale = _scenario(quick_run, "4 scale")
    rows = {row[0].split(",")[0].split(" (")[0]: row for row in scale["table"]["rows"]}
    assert all(row[3] == "ok" for row in rows.values()), rows
    assert "counts match the log" in rows["report --format json"][4]
    replay = rows["replay --dry-run"][4]
    assert "would_delete" in replay
    assert "MISMATCH" not in replay
    # Reported, not judged: a quick run's RSS growth can round down to nothing.
    assert scale["data"]["bytes_per_peer"] >= 0


def test_render_document_marks_unmeasured_targets_as_na():
    """A target that could not be measured shows n/a, not PASS."""
    result = ScenarioResult(
        key="k",
        title="T",
        setup="s",
        table=Table(("a",), (("1",),)),
        checks=(Check("t", "not measured", None), Check("u", "1.00", True)),
    )
    text = render_document({"date": "today"}, [result])
    assert "| k        | t      | not measured | n/a     |" in text
    assert "PASS" in text


def test_measure_rate_is_none_for_a_failed_client():
    """A client that errored has no rate, so no ratio can be computed from it."""
    assert Measure("c", 10, ok=10, seconds=1.0, error="boom").rate is None
    assert Measure("c", 10, ok=10, seconds=2.0).rate == 5.0


def test_fixture_ids_are_canonical_and_distinct_per_kind():
    """Generated IDs are lowercase 8-4-4-4-12 UUIDs, unique across kinds and indexes."""
    ids = {fixtures.uid(7, kind, i) for kind in (1, 2, 3) for i in range(50)}
    assert len(ids) == 150
    assert all(len(i) == 36 and i == i.lower() and i.count("-") == 4 for i in ids)


def test_overhead_reports_where_the_time_goes(quick_run: dict[str, Any]) -> None:
    """Scenario 1 states µs per peer for the loop, bulkdel and the engine measured alone."""
    lines = [ln for ln in quick_run["markdown"].splitlines() if "the engine alone" in ln]
    assert lines, quick_run["proc"].stderr[-2000:]
    assert all(" µs per peer" in ln and "failed" not in ln for ln in lines)
