"""pytest plugin: `--chaos-runs N` and `--chaos-seed S` for longer local chaos and crash runs.

Registered from tests/conftest.py with `pytest_plugins = ["tests.chaos_plugin"]`. `make test`
uses the defaults (a few seeded runs that fit its time budget); for a soak run locally:

    .venv/bin/pytest tests/test_chaos.py tests/test_crash.py --chaos-runs 50 --chaos-seed 1000
"""

from __future__ import annotations

import pytest

#: Seeded chaos runs per chaos test in `make test`.
DEFAULT_CHAOS_RUNS = 2
#: First seed; run k uses seed DEFAULT_CHAOS_SEED + k.
DEFAULT_CHAOS_SEED = 1


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the chaos options."""
    group = parser.getgroup("chaos", "bulkdel chaos and crash tests")
    group.addoption(
        "--chaos-runs",
        type=int,
        default=DEFAULT_CHAOS_RUNS,
        metavar="N",
        help=f"seeded runs per chaos test (default {DEFAULT_CHAOS_RUNS}); "
        "the crash test kills N*5 times",
    )
    group.addoption(
        "--chaos-seed",
        type=int,
        default=DEFAULT_CHAOS_SEED,
        metavar="S",
        help="first seed of the chaos runs, to reproduce a failure (default 1)",
    )


def chaos_runs(config: pytest.Config) -> int:
    """`--chaos-runs`, or the default when the plugin is not registered."""
    value = config.getoption("chaos_runs", default=DEFAULT_CHAOS_RUNS)
    return max(1, int(value if value is not None else DEFAULT_CHAOS_RUNS))


def chaos_seed(config: pytest.Config) -> int:
    """`--chaos-seed`, or the default when the plugin is not registered."""
    value = config.getoption("chaos_seed", default=DEFAULT_CHAOS_SEED)
    return int(value if value is not None else DEFAULT_CHAOS_SEED)
