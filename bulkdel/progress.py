"""A rich progress bar on a terminal (done / failed / protected, rate, ETA); nothing otherwise.

Off a terminal the runner logs a periodic `run.progress` event instead.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bulkdel.models import Outcome


def summary_text(counts: Counter[str]) -> str:
    """`done 40 · failed 1 · protected 12 · other 3` for the bar (pure)."""
    done = counts["deleted"] + counts["gone"] + counts["would_delete"] + counts["skipped"]
    other = sum(counts.values()) - done - counts["failed"] - counts["protected"]
    parts = [f"done {done}", f"failed {counts['failed']}", f"protected {counts['protected']}"]
    if other:
        parts.append(f"other {other}")
    return " · ".join(parts)


@contextmanager
def progress_bar(total: int, *, enabled: bool | None = None) -> Iterator[Callable[[Outcome], None]]:
    """Yield a callback taking one Outcome per finished peer."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or total == 0:
        yield lambda _outcome: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Finished peers per second."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("  -.-/s" if speed is None else f"{speed:5.1f}/s")

    counts: Counter[str] = Counter()
    bar = Progress(
        TextColumn("[bold]bulkdel"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        RateColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    task = bar.add_task("run", total=total, detail="")
    started = False

    def advance(outcome: Outcome) -> None:
        # Started on the first outcome, so it never draws over the confirmation prompt.
        nonlocal started
        if not started:
            bar.start()
            started = True
        counts[outcome.value] += 1
        bar.update(task, advance=1, detail=summary_text(counts))

    try:
        yield advance
    finally:
        if started:
            bar.stop()
