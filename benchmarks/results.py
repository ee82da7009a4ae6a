"""Measurements, target checks and their rendering (pure: text in, text out)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Measure:
    """One client's run against one server: how many DELETEs were answered 2xx, how fast."""

    client: str
    requests: int
    ok: int = 0
    seconds: float = 0.0
    basis: str = ""  # what `seconds` spans, e.g. "execute phase (audit log)"
    process_s: float | None = None  # the whole process, start-up and planning included
    peak: int | None = None  # server-observed most DELETEs in any sliding second
    note: str = ""
    error: str | None = None

    @property
    def rate(self) -> float | None:
        """2xx answers per second over `seconds`, None when it did not run."""
        if self.error is not None or self.seconds <= 0:
            return None
        return self.ok / self.seconds


@dataclass(frozen=True, slots=True)
class Check:
    """One target of issue 5 against what this run measured."""

    target: str
    measured: str
    passed: bool | None  # None: could not be measured here (say why in `measured`)

    @property
    def verdict(self) -> str:
        """PASS, MISS or n/a."""
        return {True: "PASS", False: "MISS", None: "n/a"}[self.passed]


@dataclass(frozen=True, slots=True)
class Table:
    """Columns and rows of cells, already formatted."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """Everything one scenario reports."""

    key: str
    title: str
    setup: str
    table: Table
    checks: tuple[Check, ...] = ()
    notes: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


def ratio_check(
    target: str, num: Measure | None, den: float | Measure | None, minimum: float
) -> Check:
    """`num.rate / den ≥ minimum` (den a rate or a measure)."""
    den_rate = den.rate if isinstance(den, Measure) else den
    if num is None or num.rate is None:
        why = num.error if num is not None and num.error else "not measured"
        return Check(target, f"bulkdel did not run: {first_line(why)}", False if num else None)
    if den_rate is None or den_rate <= 0:
        return Check(target, "no reference measured", None)
    ratio = num.rate / den_rate
    return Check(
        target,
        f"{ratio:.2f} ({num.rate:,.0f}/s vs {den_rate:,.0f}/s)",
        ratio >= minimum,
    )


def first_line(text: str, limit: int = 160) -> str:
    """The first non-empty line of `text`, cut to `limit`."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


def fmt_rate(rate: float | None) -> str:
    """`4,512/s`, or a dash."""
    return "—" if rate is None else f"{rate:,.0f}/s" if rate >= 100 else f"{rate:,.1f}/s"


def measures_table(measures: Sequence[Measure], reference: float | None, ref_label: str) -> Table:
    """Client rows with rate, a ratio to the reference and the server-observed peak."""
    columns = (
        "client",
        "DELETEs",
        "2xx",
        "seconds",
        "rate",
        f"x {ref_label}",
        "peak/s (server)",
        "process s",
        "note",
    )
    rows = []
    for m in measures:
        rate = m.rate
        ratio = "—" if rate is None or not reference else f"{rate / reference:.2f}"
        note = m.note if m.error is None else f"ERROR: {first_line(m.error)}"
        rows.append(
            (
                m.client,
                f"{m.requests:,}",
                f"{m.ok:,}" if m.error is None else "—",
                f"{m.seconds:.2f}" if m.error is None else "—",
                fmt_rate(rate),
                ratio,
                "—" if m.peak is None else str(m.peak),
                "—" if m.process_s is None else f"{m.process_s:.2f}",
                note,
            )
        )
    return Table(columns, tuple(rows))


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    """A GitHub markdown table, padded so it also reads well as plain text."""
    cells = [list(table.columns), *[list(r) for r in table.rows]]
    cells = [[_escape(c) for c in row] for row in cells]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.columns))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def checks_table(checks: Iterable[tuple[str, Check]]) -> Table:
    """Scenario, target, measured, verdict."""
    rows = tuple((scenario, c.target, c.measured, c.verdict) for scenario, c in checks)
    return Table(("scenario", "target", "measured", "verdict"), rows)


def render_scenario(result: ScenarioResult) -> str:
    """One scenario as markdown: title, set-up, table, notes."""
    parts = [f"## {result.title}", "", result.setup, "", markdown_table(result.table)]
    if result.notes:
        parts += ["", *[f"- {n}" for n in result.notes]]
    return "\n".join(parts)


def render_document(header: Mapping[str, str], results: Sequence[ScenarioResult]) -> str:
    """The whole RESULTS.md: environment, the targets summary, then every scenario."""
    lines = ["# bulkdel benchmark results", ""]
    lines += [f"- **{k}**: {v}" for k, v in header.items()]
    lines += ["", "## Targets (issue 5)", ""]
    lines.append(markdown_table(checks_table((r.key, c) for r in results for c in r.checks)))
    for result in results:
        lines += ["", render_scenario(result)]
    return "\n".join(lines) + "\n"


def summary_counts(results: Sequence[ScenarioResult]) -> dict[str, int]:
    """How many targets passed, missed or could not be measured."""
    out = {"PASS": 0, "MISS": 0, "n/a": 0}
    for r in results:
        for c in r.checks:
            out[c.verdict] += 1
    return out
