"""A rich progress bar on a terminal (done / failed / protected, rate, ETA); nothing otherwise.

Off a terminal the runner logs a periodic `run.progress` event instead.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bulkdel.models import Outcome


@contextmanager
def progress_bar(total: int, *, enabled: bool | None = None) -> Iterator[Any]:
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
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    counts: Counter[str] = Counter()
    columns = (
        TextColumn("[bold]deleting"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("run", total=total, detail="")

        def advance(outcome: Outcome) -> None:
            counts[outcome.value] += 1
            detail = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
            bar.update(task, advance=1, detail=detail)

        yield advance
